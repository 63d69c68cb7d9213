"""The basket's lock order at the SQL level: the same named blocks the service runs (sql/lines.sql), two
buyers on two connections. Each holds its first line's rows at a threading.Barrier, then asks for the
other's: in opposite orders that is a cycle, and PostgreSQL breaks it by aborting exactly one (40P01)."""

from __future__ import annotations

import threading

import aiosql
import psycopg
import pytest

from reference_impl.infra.settings import database_url
from reference_impl.inventory.reserve import SQL_DIR
from tests.conftest import STACK

pytestmark = STACK
Q = aiosql.from_path(str(SQL_DIR), "psycopg", mandatory_parameters=False)


def _seed(url: str, skus: list[str]) -> None:
    with psycopg.connect(url) as conn:
        Q.ensure_warehouse(conn, warehouse="wh-1")
        for sku in skus:
            kind = Q.receive_stock(conn, sku=sku, warehouse="wh-1", qty=1)
            Q.record_movement(conn, sku=sku, warehouse="wh-1", kind=kind, qty=1)


def _buyers(url: str, orders: list[list[str]], hold_at_barrier: bool) -> list[str]:
    """Each buyer locks its lines in its order (lock_line_rows), waiting at the barrier after the first
    when `hold_at_barrier`; answers `locked` (got every line) or `deadlock`."""
    barrier, out = threading.Barrier(len(orders)), [""] * len(orders)

    def buyer(i: int) -> None:
        with psycopg.connect(url) as conn:
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '20s'")
                    for k, sku in enumerate(orders[i]):
                        list(Q.lock_line_rows(conn, sku=sku, warehouse=None))
                        if k == 0 and hold_at_barrier:
                            barrier.wait(timeout=30)
                out[i] = "locked"
            except psycopg.errors.DeadlockDetected:
                out[i] = "deadlock"

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(len(orders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_opposite_orders_held_at_a_barrier_deadlock_and_one_is_aborted(pg_url, unique):
    a, b = unique("a"), unique("b")
    url = database_url(pg_url, "inventory")
    _seed(url, [a, b])
    assert sorted(_buyers(url, [[a, b], [b, a]], hold_at_barrier=True)) == ["deadlock", "locked"]


@pytest.mark.parametrize("buyers", [2, 6])
def test_the_same_baskets_sorted_first_all_lock_everything(pg_url, unique, buyers):
    """Sorted, every buyer asks for A before B: whoever holds A is never waiting for a row another holds
    while it waits for A, so all finish. (No barrier: a buyer waiting for A cannot reach one.)"""
    a, b = unique("a"), unique("b")
    url = database_url(pg_url, "inventory")
    _seed(url, [a, b])
    baskets = [sorted([a, b]) for _ in range(buyers)]
    assert _buyers(url, baskets, hold_at_barrier=False) == ["locked"] * buyers
