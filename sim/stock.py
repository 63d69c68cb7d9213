"""The model's PostgreSQL: stock rows with a row lock each, and the reservations that explain them.

A row's counters change only at the instant its writer commits, so a reader that takes no lock sees the
last committed values, as under READ COMMITTED. Rows of cold SKUs are created when first touched: a
catalog of millions costs memory only for the SKUs buyers actually hit.
"""

from __future__ import annotations

import simpy

from scenarios.spec import Scenario
from sim.queueing import Station


def sku_name(index: int, hot_skus: int) -> str:
    return f"hot-{index:04d}" if index < hot_skus else f"sku-{index:07d}"


def warehouse_name(index: int) -> str:
    return f"wh-{index + 1:03d}"   # zero-padded, so text order (the SQL tie-break) is numeric order


def spread(units: int, warehouses: int) -> list[int]:
    """K units over W warehouses as evenly as possible, the remainder to the first ones."""
    base, extra = divmod(units, warehouses)
    return [base + (1 if w < extra else 0) for w in range(warehouses)]


class Row:
    """One SKU in one warehouse: counters, a version, the lock, and the reservations made on it."""
    __slots__ = ("sku", "warehouse", "supply", "on_hand", "reserved", "sold", "version", "writes",
                 "lock", "held", "promises", "strategies", "mirror", "index", "returned")

    def __init__(self, env: simpy.Environment, sku: str, warehouse: str, units: int, index: int = -1,
                 returned=None):
        self.sku, self.warehouse, self.index = sku, warehouse, index
        self.returned = returned    # called with the SKU's index when units come back (release, expiry)
        self.supply = self.on_hand = units          # the movement log holds one 'initial' receipt
        self.reserved = self.sold = 0
        self.version = 0        # bumped by the optimistic CAS only, as in sql/reserve.sql
        self.writes = 0         # every committed write: what SERIALIZABLE's first-updater-wins looks at
        self.lock = Station(env, 1)
        self.held = 0           # units in reservations (all stay 'held' within a run: TTL >> makespan)
        self.promises: list[tuple[int, int, float]] = []   # (reservation number, qty, when) in commit order
        self.strategies: set[str] = set()
        self.mirror: list[int] | None = None        # the redis strategy's [on_hand, reserved] hash

    def available(self) -> int:
        return self.on_hand - self.reserved


class Stockroom:
    """All rows, keyed by SKU index; a SKU's rows come back in warehouse order."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, on_return=None):
        c = scenario.catalog
        self.env, self.hot_skus, self.skus = env, c.hot_skus, c.skus
        self.warehouses = [warehouse_name(w) for w in range(c.warehouses)]
        self.hot_units = spread(c.hot_stock, c.warehouses)
        self.cold_units = c.stock_per_warehouse
        self.rows: dict[int, list[Row]] = {}
        self.reservations = 0
        self.on_return = on_return  # who hears units come back (the sold-out memory), or None
        for sku in range(c.hot_skus):
            self.of(sku)

    def of(self, sku: int) -> list[Row]:
        rows = self.rows.get(sku)
        if rows is None:
            name = sku_name(sku, self.hot_skus)
            units = self.hot_units if sku < self.hot_skus else [self.cold_units] * len(self.warehouses)
            rows = self.rows[sku] = [Row(self.env, name, wh, n, sku, self.on_return)
                                     for wh, n in zip(self.warehouses, units, strict=True)]
        return rows

    def promise(self, row: Row, qty: int, strategy: str, at: float | None = None) -> None:
        """Record a reservation row (state held), committed now (or at `at`): what the auditor counts."""
        self.reservations += 1
        row.promises.append((self.reservations, qty, self.env.now if at is None else at))
        row.held += qty
        row.strategies.add(strategy)

    def name(self, sku: int) -> str:
        return sku_name(sku, self.hot_skus)
