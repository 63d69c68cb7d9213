"""The scenario schema: load a TOML file, apply `--set KEY=VALUE` overrides, validate, or say why not.

The real stack, the SimPy model and the Locust swarm read scenarios only through `load()`, so a field means
the same thing to all three. Errors name the file and the key, in one line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from reference_impl.infra.faults import FaultAction, FaultPoint
from reference_impl.inventory.strategies import SoldOut, Strategy

SCENARIO_DIR = Path(__file__).parent
LOAD_MODELS = ("race", "open", "closed")


class ScenarioError(ValueError):
    """A scenario that cannot run, with the reason in one line."""


@dataclass
class Catalog:
    skus: int = 1                  # SKUs in the run (hot ones first)
    hot_skus: int = 1              # SKUs everyone wants: the last-unit races
    warehouses: int = 1
    hot_stock: int = 1             # units of each hot SKU, spread over the warehouses
    stock_per_warehouse: int = 100  # units of each other SKU in each warehouse
    zipf_s: float = 1.1            # popularity of the non-hot SKUs: rank r is picked ~ 1 / r**s


@dataclass
class Stage:
    at_s: float                    # from the start of the run
    rate: float                    # checkout arrivals per second; linear between stages


@dataclass
class Load:
    model: str = "race"            # race: `buyers` at one instant; open: arrivals at `shape` rates; closed
    buyers: int = 2                # race: how many buyers are released together
    qty: int = 1
    users: int = 10                # closed: concurrent users, each waiting `think_ms` between attempts
    think_ms: float = 0.0
    duration_s: float = 10.0       # open and closed
    hot_fraction: float = 0.5      # open and closed: share of checkouts that go for a hot SKU
    shape: list[Stage] = field(default_factory=list)


@dataclass
class Inventory:
    strategy: Strategy = Strategy.GUARDED
    reservation_ttl_s: float = 900.0
    naive_window_ms: int = 20      # the control's read-to-write window
    sold_out: SoldOut = SoldOut.AUTO   # the sold-out short-circuit: auto (on for batched), on, off, stale


@dataclass
class Payment:
    idempotency: bool = True
    decline_rate: float = 0.0


@dataclass
class Webhooks:
    delay_ms: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0


@dataclass
class Fault:
    point: FaultPoint
    action: FaultAction
    probability: float = 1.0
    delay_ms: float = 0.0


@dataclass
class Scenario:
    name: str
    seed: int = 1
    description: str = ""
    settle_s: float = 10.0         # after the load: how long sagas get to finish before the audit
    catalog: Catalog = field(default_factory=Catalog)
    load: Load = field(default_factory=Load)
    inventory: Inventory = field(default_factory=Inventory)
    payment: Payment = field(default_factory=Payment)
    webhooks: Webhooks = field(default_factory=Webhooks)
    faults: list[Fault] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
