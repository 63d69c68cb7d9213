"""Reservations of several lines over HTTP: all or nothing, settled together, expired together, and an auditor
that catches a group left half reserved (fabricated here, since the service cannot make one)."""

from __future__ import annotations

import httpx
import psycopg
import pytest
import redis

from reference_impl.audit.inventory import audit_inventory
from reference_impl.infra.run_config import set_run
from reference_impl.infra.settings import database_url
from scenarios.strategies import LINE_STRATEGIES, Strategy
from tests.conftest import STACK
from tests.integration.test_inventory_lifecycle import _seed

pytestmark = STACK



def _row(api, sku, wh="wh-1"):
    w = next(w for w in api.get(f"/stock/{sku}").json()["warehouses"] if w["warehouse"] == wh)
    return w["on_hand"], w["reserved"], w["sold"]


def _basket(api, skus, strategy, **extra):
    return api.post("/reservation-groups", json={"lines": [{"sku": s, "qty": 1} for s in skus],
                                                 "strategy": strategy.value, **extra})


@pytest.mark.parametrize("strategy", LINE_STRATEGIES, ids=str)
def test_a_line_that_cannot_be_had_leaves_nothing_held(api, pg_url, unique, strategy):
    a, b = unique("a"), unique("b")
    _seed(api, a, 1)
    _seed(api, b, 1)
    assert _basket(api, [a, b], strategy).status_code == 201           # takes the last B
    _seed(api, a, 1)                                                     # A has a unit again; B has none
    r = _basket(api, [b, a], strategy)
    assert r.status_code == 409 and r.json()["error"] == "out_of_stock" and r.json()["sku"] == b
    assert _row(api, a) == (2, 1, 0)                                     # the A line was not kept
    audit = audit_inventory(pg_url, [a, b])
    assert audit["ok"] and audit["partial_groups"] == 0 and audit["groups_checked"] == 1


@pytest.mark.parametrize("strategy", LINE_STRATEGIES, ids=str)
def test_lines_take_the_fullest_warehouse_like_a_single_line(api, unique, strategy):
    a, b = unique("a"), unique("b")
    _seed(api, a, 1, "wh-1")
    _seed(api, a, 3, "wh-2")
    _seed(api, b, 2, "wh-1")
    g = _basket(api, [a, b], strategy).json()
    assert {ln["sku"]: ln["warehouse"] for ln in g["lines"]} == {a: "wh-2", b: "wh-1"}


def test_the_group_is_settled_whole_and_a_line_alone_is_refused(api, pg_url, unique):
    a, b = unique("a"), unique("b")
    _seed(api, a, 2)
    _seed(api, b, 2)
    g = _basket(api, [a, b], Strategy.PESSIMISTIC, attempt_id=unique("att")).json()
    line = g["lines"][0]["id"]
    r = api.post(f"/reservations/{line}/release")
    assert r.status_code == 409 and r.json()["error"] == "in_group" and r.json()["group_id"] == g["id"]
    assert api.post(f"/reservation-groups/{g['id']}/commit").json()["state"] == "committed"
    assert api.post(f"/reservation-groups/{g['id']}/commit").status_code == 200          # repeat: same answer
    assert api.post(f"/reservation-groups/{g['id']}/release").status_code == 409         # sold is sold
    assert _row(api, a) == (1, 0, 1) and _row(api, b) == (1, 0, 1)
    again = api.post("/reservation-groups", json={"lines": [{"sku": a, "qty": 1}, {"sku": b, "qty": 1}],
                                                  "attempt_id": g["attempt_id"]})
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["id"] == g["id"]
    other = _basket(api, [a, b], Strategy.GUARDED).json()
    assert api.post(f"/reservation-groups/{other['id']}/release").json()["state"] == "released"
    assert _row(api, a) == (1, 0, 1)
    audit = audit_inventory(pg_url, [a, b])
    assert audit["ok"] and audit["stock_conserved"] and audit["counter_drift_units"] == 0


def test_the_sweeper_expires_a_group_with_all_its_lines(api, pg_url, unique):
    a, b = unique("a"), unique("b")
    _seed(api, a, 1)
    _seed(api, b, 1)
    g = _basket(api, [a, b], Strategy.OPTIMISTIC, ttl_s=60).json()
    assert api.post("/admin/sweep", json={"as_of": "2999-01-01T00:00:00Z"}).json()["expired"] >= 1
    got = api.get(f"/reservation-groups/{g['id']}").json()
    assert got["state"] == "expired" and {ln["state"] for ln in got["lines"]} == {"expired"}
    assert _row(api, a) == (1, 0, 0) and _row(api, b) == (1, 0, 0)
    assert audit_inventory(pg_url, [a, b])["ok"]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"lines": [{"sku": "x", "qty": 1}], "strategy": "batched"}, 400, "unsupported_for_lines"),
    ({"lines": [{"sku": "x", "qty": 1}], "strategy": "redis"}, 400, "unsupported_for_lines"),
    ({"lines": [{"sku": "x", "qty": 1}], "strategy": "naive"}, 400, "unsupported_for_lines"),
    ({"lines": [{"sku": "x", "qty": 1}, {"sku": "x", "qty": 2}]}, 400, "duplicate_sku"),
    ({"lines": []}, 422, "invalid_request"),
    ({"lines": [{"sku": "x", "qty": 1}], "lock_order": "sideways"}, 422, "invalid_request"),
    ({"lines": [{"sku": "no-such-sku-anywhere", "qty": 1}], "strategy": "guarded"}, 404, "unknown_sku"),
])
def test_bad_baskets_are_refused_with_a_reason(api, body, status, error):
    r = api.post("/reservation-groups", json=body)
    assert (r.status_code, r.json()["error"]) == (status, error), r.text


def test_the_auditor_catches_a_half_reserved_group(api, pg_url, unique):
    """The control of the invariant: a group whose B line was given back while its A line is still held (what
    a saga releasing line by line after a crash would leave). Counters are kept true, so only this breaks."""
    a, b = unique("a"), unique("b")
    _seed(api, a, 1)
    _seed(api, b, 1)
    g = _basket(api, [a, b], Strategy.GUARDED).json()
    assert audit_inventory(pg_url, [a, b])["partial_groups"] == 0
    with psycopg.connect(database_url(pg_url, "inventory"), autocommit=True) as conn:
        conn.execute("UPDATE reservations SET state = 'released', settled_at = now() WHERE group_id = %s AND sku = %s",
                     (g["id"], b))
        conn.execute("UPDATE stock SET reserved = reserved - 1 WHERE sku = %s", (b,))
    audit = audit_inventory(pg_url, [a, b])
    assert not audit["ok"] and audit["partial_groups"] == 1 and audit["counter_drift_units"] == 0
    breach = next(x for x in audit["breaches"] if x["invariant"] == "partially_reserved_groups")
    assert breach["witnesses"] == [g["id"]]


def test_a_lost_commit_reply_is_retried_harmlessly(api, lab, pg_url, unique):
    """inventory.before_commit: drop_reply on a group's commit: the sale happens, the caller hears nothing,
    and its retry (what the orders saga does) answers the committed group without selling twice."""
    a, b = unique("a"), unique("b")
    _seed(api, a, 2)
    _seed(api, b, 2)
    g = _basket(api, [a, b], Strategy.SERIALIZABLE).json()
    client = redis.from_url(lab["redis"]["url"])
    try:
        set_run(client, {"faults": [{"point": "inventory.before_commit", "action": "drop_reply", "probability": 1.0}]})
        with pytest.raises(httpx.ReadTimeout):
            api.post(f"/reservation-groups/{g['id']}/commit", timeout=2)
    finally:
        set_run(client, None)
        client.close()
    again = api.post(f"/reservation-groups/{g['id']}/commit")
    assert again.status_code == 200 and again.json()["state"] == "committed"
    assert _row(api, a) == (1, 0, 1) and _row(api, b) == (1, 0, 1)
    assert audit_inventory(pg_url, [a, b])["ok"]
