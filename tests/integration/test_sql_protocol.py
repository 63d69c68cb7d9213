"""The reservation SQL itself, two buyers on two connections, released by a threading.Barrier.

The same named blocks the service runs (sql/reserve.sql), loaded for psycopg: why the guarded UPDATE lets
exactly one buyer win under READ COMMITTED, and why read-check-write-back loses an update.
"""

from __future__ import annotations

import threading

import aiosql
import psycopg
import pytest
from psycopg.rows import dict_row

from reference_impl.infra.settings import database_url
from reference_impl.inventory.reserve import SQL_DIR
from tests.conftest import STACK

pytestmark = STACK
Q = aiosql.from_path(str(SQL_DIR), "psycopg", mandatory_parameters=False)


def _seed(url: str, sku: str, units: int) -> None:
    with psycopg.connect(url) as conn:
        Q.ensure_warehouse(conn, warehouse="wh-1")
        kind = Q.receive_stock(conn, sku=sku, warehouse="wh-1", qty=units)
        Q.record_movement(conn, sku=sku, warehouse="wh-1", kind=kind, qty=units)


def _params(sku: str, buyer: int) -> dict:
    return dict(sku=sku, warehouse="wh-1", qty=1, strategy="guarded", attempt_id=f"{sku}-{buyer}", retries=0,
                ttl_s=60.0)


def _both(fn) -> list:
    barrier, out = threading.Barrier(2), [None, None]

    def run(i):
        out[i] = fn(i, barrier)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


@pytest.fixture
def inv(pg_url):
    return database_url(pg_url, "inventory")


def test_guarded_update_second_buyer_rechecks_and_loses(inv, unique):
    sku = unique("sql")
    _seed(inv, sku, 1)

    def buyer(i, barrier):
        with psycopg.connect(inv) as conn:
            barrier.wait()
            return Q.reserve_guarded(conn, **_params(sku, i))

    won = [r for r in _both(buyer) if r is not None]
    assert len(won) == 1


def test_guarded_update_blocked_buyer_sees_winner_commit(inv, unique):
    """Deterministic interleaving: B blocks on A's row lock, then re-evaluates WHERE against A's commit."""
    sku = unique("sql")
    _seed(inv, sku, 1)
    with psycopg.connect(inv) as a, psycopg.connect(inv) as b:
        assert Q.reserve_guarded(a, **_params(sku, 0)) is not None      # A holds the row lock, uncommitted
        result = {}
        t = threading.Thread(target=lambda: result.update(b=Q.reserve_guarded(b, **_params(sku, 1))))
        t.start()
        t.join(0.5)
        assert t.is_alive(), "B must wait for A's row lock"
        a.commit()
        t.join(10)
        assert result["b"] is None                                        # re-checked: 0 available
        b.commit()


def test_read_check_write_back_loses_an_update(inv, unique):
    sku = unique("sql")
    _seed(inv, sku, 1)

    def buyer(i, barrier):
        with psycopg.connect(inv, autocommit=True) as conn:
            row = Q.read_counter(conn, sku=sku, warehouse="wh-1")
            barrier.wait()                       # both have read "1 available" before either writes
            if row[0] - row[1] < 1:
                return None
            Q.write_back_counter(conn, sku=sku, warehouse="wh-1", new_reserved=row[1] + 1)
            return Q.insert_reservation(conn, **(_params(sku, i) | {"strategy": "naive"}))

    assert all(r is not None for r in _both(buyer))   # two winners for one unit
    with psycopg.connect(inv) as conn:
        assert conn.execute("SELECT reserved FROM stock WHERE sku = %s", (sku,)).fetchone()[0] == 1


@pytest.mark.parametrize("writer", ["reserve_guarded", "increment_reserved", "record_redis_grant"])
def test_a_reservation_by_another_strategy_moves_the_version_optimistic_compares(inv, unique, writer):
    """Optimistic reads the row, and another strategy reserves the last unit before its compare-and-set.
    Every writer that reserves moves the version, so the compare-and-set finds the row changed and the
    optimistic buyer re-reads (sold out) instead of writing on its stale read: before, guarded, pessimistic
    and serializable left the version alone, the stale write went ahead and only the reserved_within_on_hand
    CHECK stopped it, as an error, not a refusal."""
    sku = unique("opt")
    _seed(inv, sku, 1)
    with psycopg.connect(inv, row_factory=dict_row) as reader, psycopg.connect(inv, autocommit=True) as other:
        seen = Q.read_counter(reader, sku=sku, warehouse="wh-1")
        reader.commit()
        params = _params(sku, 1)
        getattr(Q, writer)(other, **(params if writer != "increment_reserved" else
                                     {k: params[k] for k in ("sku", "warehouse", "qty")}))
        won = Q.increment_if_version(reader, sku=sku, warehouse="wh-1", qty=1, version=seen["version"])
        reader.rollback()
    assert won is None
