"""Reservations after the race: expiry returns stock, a sale conserves it, retries replay, Redis reconciles."""

from __future__ import annotations

import psycopg
import pytest

from reference_impl.audit.inventory import audit_inventory
from reference_impl.infra.settings import database_url
from scenarios.strategies import Strategy
from tests.conftest import STACK

pytestmark = STACK



def _seed(api, sku, qty, wh="wh-1"):
    r = api.post("/stock/receipts", json={"sku": sku, "warehouse": wh, "qty": qty})
    assert r.status_code == 201, r.text
    return r.json()


def _available(api, sku):
    return sum(w["available"] for w in api.get(f"/stock/{sku}").json()["warehouses"])


def test_expired_reservation_returns_its_stock(api, pg_url, unique):
    sku = unique("exp")
    _seed(api, sku, 1)
    r = api.post("/reservations", json={"sku": sku, "qty": 1, "ttl_s": 30})
    assert r.status_code == 201
    assert api.post("/reservations", json={"sku": sku, "qty": 1}).status_code == 409
    assert api.get(f"/reservations/{r.json()['id']}").json()["state"] == "held"
    swept = api.post("/admin/sweep", json={"as_of": "2999-01-01T00:00:00Z"}).json()
    assert swept["expired"] >= 1
    assert api.get(f"/reservations/{r.json()['id']}").json()["state"] == "expired"
    assert _available(api, sku) == 1
    assert api.post("/reservations", json={"sku": sku, "qty": 1}).status_code == 201
    assert audit_inventory(pg_url, [sku])["ok"]


def test_sale_and_release_conserve_stock_and_are_idempotent(api, pg_url, unique):
    sku = unique("sale")
    _seed(api, sku, 3)
    ids = [api.post("/reservations", json={"sku": sku, "qty": 1}).json()["id"] for _ in range(2)]
    assert api.post(f"/reservations/{ids[0]}/commit").json()["state"] == "committed"
    assert api.post(f"/reservations/{ids[0]}/commit").status_code == 200          # repeat: same answer
    assert api.post(f"/reservations/{ids[0]}/release").status_code == 409         # sold is sold
    assert api.post(f"/reservations/{ids[1]}/release").json()["state"] == "released"
    _seed(api, sku, 2)                                                           # a restock
    w = api.get(f"/stock/{sku}").json()["warehouses"][0]
    assert (w["on_hand"], w["reserved"], w["sold"], w["available"]) == (4, 0, 1, 4)
    audit = audit_inventory(pg_url, [sku])
    assert audit["ok"] and audit["stock_conserved"] and audit["counter_drift_units"] == 0


@pytest.mark.parametrize("strategy", [s.value for s in Strategy])
@pytest.mark.parametrize("stock", [5, 2], ids=["stock-left", "took-the-last"])
def test_retry_with_same_attempt_id_replays_not_reserves_again(api, pg_url, unique, strategy, stock):
    """Only naive looks the attempt up before writing; the others find the repeat by attempt_id's unique
    index (stock left) or after the refusal (the first took the last units): the same answer, one count."""
    sku = unique("idem")
    _seed(api, sku, stock)
    body = {"sku": sku, "qty": 2, "attempt_id": f"{sku}-a", "strategy": strategy}
    first = api.post("/reservations", json=body)
    again = api.post("/reservations", json=body)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert first.json()["id"] == again.json()["id"] and again.json()["replayed"]
    assert _available(api, sku) == stock - 2
    assert audit_inventory(pg_url, [sku])["counter_drift_units"] == 0


def test_redis_strategy_is_reconciled_into_postgres(api, pg_url, unique):
    sku = unique("redis")
    _seed(api, sku, 2)
    got = [api.post("/reservations", json={"sku": sku, "qty": 1, "strategy": "redis"}) for _ in range(3)]
    assert [g.status_code for g in got] == [201, 201, 409]
    api.post(f"/reservations/{got[0].json()['id']}/release")
    assert api.post("/reservations", json={"sku": sku, "qty": 1, "strategy": "redis"}).status_code == 201
    with psycopg.connect(database_url(pg_url, "inventory")) as conn:
        held = conn.execute("SELECT count(*) FROM reservations WHERE sku = %s AND state = 'held'",
                            (sku,)).fetchone()[0]
    assert held == 2
    assert audit_inventory(pg_url, [sku])["ok"]


def test_auditor_catches_a_safe_strategy_breach_and_names_the_witness(api, pg_url, unique):
    """A check that cannot fail proves nothing: forge an oversell under a safe strategy's name."""
    sku = unique("forged")
    _seed(api, sku, 1)
    assert api.post("/reservations", json={"sku": sku, "qty": 1}).status_code == 201
    with psycopg.connect(database_url(pg_url, "inventory")) as conn:
        forged = conn.execute("INSERT INTO reservations (sku, warehouse, qty, strategy, expires_at) VALUES "
                              "(%s, 'wh-1', 1, 'guarded', now() + interval '1 hour') RETURNING id::text",
                              (sku,)).fetchone()[0]
    audit = audit_inventory(pg_url, [sku])
    assert not audit["ok"] and audit["oversold_units"] == 1
    oversold = next(b for b in audit["breaches"] if b["invariant"] == "oversold")
    assert oversold["witnesses"] == [forged] and not oversold["control"]
    assert any(b["invariant"] == "counters_match_reservations" for b in audit["breaches"])
