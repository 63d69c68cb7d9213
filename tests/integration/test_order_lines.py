"""Orders of several lines on the real stack: every line reserved or none (one reservation group), sold
together when the label is printed, released together on compensation, and two buyers of the last {A, B}
listing the lines in opposite orders never split the pair."""

from __future__ import annotations

import threading

import httpx
import psycopg
import pytest

from reference_impl.audit.saga import audit_saga
from reference_impl.infra.settings import database_url
from tests.conftest import STACK
from tests.integration.test_saga import _event, _until_final

pytestmark = STACK




def _stock(urls, sku, qty, warehouse="wh-1"):
    assert httpx.post(f"{urls['inventory']}/stock/receipts",
                      json={"sku": sku, "warehouse": warehouse, "qty": qty}).status_code == 201


def _shelf(urls, sku) -> tuple[int, int, int]:
    """(available, reserved, sold) over the SKU's warehouses."""
    ws = httpx.get(f"{urls['inventory']}/stock/{sku}").json()["warehouses"]
    return tuple(sum(w[k] for w in ws) for k in ("available", "reserved", "sold"))


def _checkout(urls, lines, key, user="u-lines"):
    return httpx.post(f"{urls['orders']}/checkouts", json={"lines": lines},
                      headers={"Idempotency-Key": key, "X-User-Id": user}, timeout=60)


def _charges(pg_url, order_id) -> list[tuple[str, int]]:
    with psycopg.connect(database_url(pg_url, "psp")) as conn:
        return conn.execute("SELECT status, amount FROM charges WHERE reference = %s", (order_id,)).fetchall()


def test_an_order_of_two_lines_is_paid_shipped_and_sells_both(lab, urls, pg_url, unique):
    """Across warehouses: A is stocked in wh-1 only, B in wh-2 only; the group takes each where it is."""
    a, b, key = unique("la"), unique("lb"), unique("lines")
    _stock(urls, a, 3)
    _stock(urls, b, 3, "wh-2")
    r = _checkout(urls, [{"sku": a, "qty": 2, "unit_price": 1250}, {"sku": b, "qty": 1, "unit_price": 399}], key)
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["amount"] == 2 * 1250 + 399 and placed["reservation_group_id"] and placed["reservation_id"] is None
    assert [(ln["sku"], ln["qty"]) for ln in placed["lines"]] == [(a, 2), (b, 1)] and placed["sku"] is None
    order = _until_final(lab, urls, placed["id"])
    assert order["status"] == "shipped"
    assert _shelf(urls, a) == (1, 0, 2) and _shelf(urls, b) == (2, 0, 1)
    group = httpx.get(f"{urls['inventory']}/reservation-groups/{placed['reservation_group_id']}").json()
    assert group["state"] == "committed"
    assert {ln["sku"]: ln["warehouse"] for ln in group["lines"]} == {a: "wh-1", b: "wh-2"}
    assert _charges(pg_url, placed["id"]) == [("captured", 2899)]
    audit = audit_saga(pg_url, key)
    assert audit["ok"] and audit["partial_reservations"] == 0 and audit["mispriced"] == 0, audit["breaches"]
    again = _checkout(urls, [{"sku": a, "qty": 2}, {"sku": b, "qty": 1}], key)    # a retry: the same order
    assert again.status_code == 200 and again.json()["id"] == placed["id"] and again.json()["amount"] == 2899
    listed = _checkout(urls, [{"sku": b, "qty": 1}, {"sku": a, "qty": 2}], key)   # the same lines, reordered
    assert listed.status_code == 200 and listed.json()["id"] == placed["id"]
    other = _checkout(urls, [{"sku": a, "qty": 1}, {"sku": b, "qty": 1}], key)    # other lines, same key
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"


def test_a_line_out_of_stock_cancels_the_order_holding_nothing_and_charging_nothing(urls, pg_url, unique):
    a, b, key = unique("la"), unique("lb"), unique("short")
    _stock(urls, a, 5)
    _stock(urls, b, 1)
    r = _checkout(urls, [{"sku": a, "qty": 1}, {"sku": b, "qty": 2}], key)
    assert r.status_code == 409 and r.json()["error"] == "out_of_stock", r.text
    order = r.json()["order"]
    assert (order["status"], order["cancel_reason"], order["payment_id"]) == ("cancelled", "out_of_stock", None)
    assert order["reservation_group_id"] is None
    assert _shelf(urls, a) == (5, 0, 0) and _shelf(urls, b) == (1, 0, 0)
    assert _charges(pg_url, order["id"]) == []
    assert audit_saga(pg_url, key)["ok"]


def test_shipping_failure_releases_both_lines_and_refunds(lab, urls, pg_url, unique, run_config):
    run_config({"faults": [{"point": "shipping.create_label", "action": "error", "probability": 1.0}]})
    a, b, key = unique("la"), unique("lb"), unique("shipfail")
    _stock(urls, a, 1)
    _stock(urls, b, 1)
    r = _checkout(urls, [{"sku": a, "qty": 1, "unit_price": 500}, {"sku": b, "qty": 1, "unit_price": 700}], key)
    assert r.status_code == 201, r.text
    order = _until_final(lab, urls, r.json()["id"])
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "shipping_failed")
    _event(lab, ("PaymentRefunded",), order["id"])
    assert _shelf(urls, a) == (1, 0, 0) and _shelf(urls, b) == (1, 0, 0)
    group = httpx.get(f"{urls['inventory']}/reservation-groups/{order['reservation_group_id']}").json()
    assert group["state"] == "released" and {ln["state"] for ln in group["lines"]} == {"released"}
    assert _charges(pg_url, order["id"]) == [("refunded", 1200)]
    audit = audit_saga(pg_url, key)
    assert audit["ok"] and audit["money_conserved"] and audit["partial_reservations"] == 0


@pytest.mark.parametrize("lock_order", ["sorted", "request"])
def test_two_buyers_of_the_last_pair_in_opposite_orders_never_split_it(lab, urls, pg_url, unique, run_config, lock_order):
    """Each wants {A, B}, listed in opposite orders; one set exists; inventory's barrier makes both hold their
    first line before either asks for its second. Sorted: both lock A first, so the second waits and no
    deadlock can form. Request order (the control): each holds one and waits for the other; PostgreSQL
    breaks the cycle (counted), the victim's saga asks again with the same attempt_id and finds the pair
    gone (out_of_stock, not a reserve error). Either way exactly one buyer gets both."""
    a, b, key = unique("pa"), unique("pb"), unique("pair")
    run_config({"inventory": {"strategy": "pessimistic", "lock_order": lock_order, "lock_race": key, "lock_racers": 2}})
    _stock(urls, a, 1)
    _stock(urls, b, 1)
    answers: dict[str, httpx.Response] = {}
    start = threading.Barrier(2)

    def buy(name, lines):
        start.wait()
        answers[name] = _checkout(urls, lines, f"{key}-{name}", user=name)

    ab, ba = [{"sku": a, "qty": 1}, {"sku": b, "qty": 1}], [{"sku": b, "qty": 1}, {"sku": a, "qty": 1}]
    threads = [threading.Thread(target=buy, args=("ab", ab)), threading.Thread(target=buy, args=("ba", ba))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [201, 409], {n: r.text for n, r in answers.items()}
    winner = next(r.json() for r in answers.values() if r.status_code == 201)
    assert _until_final(lab, urls, winner["id"])["status"] == "shipped"
    assert _shelf(urls, a) == (0, 0, 1) and _shelf(urls, b) == (0, 0, 1)
    loser = next(r.json() for r in answers.values() if r.status_code == 409)
    assert loser["order"]["cancel_reason"] == "out_of_stock", loser
    with psycopg.connect(database_url(pg_url, "inventory")) as conn:
        deadlocks = conn.execute("SELECT count(*) FROM lock_deadlocks WHERE skus && %s", ([a, b],)).fetchone()[0]
    assert deadlocks == (1 if lock_order == "request" else 0)
    audit = audit_saga(pg_url, key)
    assert audit["ok"] and audit["partial_reservations"] == 0, audit["breaches"]


def test_a_basket_under_a_strategy_without_baskets_is_reserved_guarded(lab, urls, unique, run_config):
    """naive, redis and batched cannot hold several lines in one transaction: the basket falls back to
    guarded (documented in saga.py `BASKET_FALLBACK`); a single line keeps the run's strategy."""
    run_config({"inventory": {"strategy": "naive", "naive_window_ms": 0}})
    a, b = unique("na"), unique("nb")
    _stock(urls, a, 1)
    _stock(urls, b, 1)
    r = _checkout(urls, [{"sku": a, "qty": 1}, {"sku": b, "qty": 1}], unique("naive"))
    assert r.status_code == 201, r.text
    group = httpx.get(f"{urls['inventory']}/reservation-groups/{r.json()['reservation_group_id']}").json()
    assert group["strategy"] == "guarded"


@pytest.mark.parametrize("body", [
    {"lines": []},
    {"lines": [{"sku": "x", "qty": 1}, {"sku": "x", "qty": 2}]},
    {"sku": "x", "qty": 1, "lines": [{"sku": "y", "qty": 1}]},
    {"sku": "x"},
    {"lines": [{"sku": "x", "qty": 0}]},
])
def test_bad_lines_are_4xx_with_a_message(urls, body):
    r = httpx.post(f"{urls['orders']}/checkouts", json=body, headers={"Idempotency-Key": "k", "X-User-Id": "u"})
    assert r.status_code == 422 and r.json()["detail"], r.text


def test_a_basket_left_pending_after_its_reservation_is_finished_by_recovery(lab, urls, pg_url, unique, run_config):
    """The orders process fails right after the group was reserved: the live request answers an error, the
    saga stays pending holding the group, and recovery (after the request's lease) drives it on from the
    group it recorded, never reserving again: both lines sold once."""
    run_config({"faults": [{"point": "orders.after_reserve", "action": "error", "probability": 1.0}]})
    a, b, key = unique("ra"), unique("rb"), unique("recover")
    _stock(urls, a, 2)
    _stock(urls, b, 2)
    r = _checkout(urls, [{"sku": a, "qty": 1}, {"sku": b, "qty": 1}], key)
    assert r.status_code >= 500, r.text
    run_config(None)
    pending = httpx.get(f"{urls['orders']}/checkouts/{key}", headers={"X-User-Id": "u-lines"}).json()
    assert pending["status"] == "pending" and pending["reservation_group_id"]
    order = _until_final(lab, urls, pending["id"])
    assert order["status"] == "shipped" and order["reservation_group_id"] == pending["reservation_group_id"]
    assert _shelf(urls, a) == (1, 0, 1) and _shelf(urls, b) == (1, 0, 1)
    steps = [s["step"] for s in httpx.get(f"{urls['orders']}/orders/{order['id']}/saga").json()["steps"]]
    assert steps.count("reserve") == 1
    assert audit_saga(pg_url, key)["ok"]


def test_the_auditor_reads_a_group_with_one_line_gone_as_partial(urls, pg_url, unique):
    """The control for `partial_reservations`: a group whose lines disagree (one released behind its back,
    inside a transaction rolled back afterwards, so the stack keeps no corrupt row) reads as `partial`,
    and a whole group reads as its state."""
    from reference_impl.audit.saga import A

    a, b = unique("ga"), unique("gb")
    _stock(urls, a, 1)
    _stock(urls, b, 1)
    r = httpx.post(f"{urls['inventory']}/reservation-groups",
                   json={"lines": [{"sku": a, "qty": 1}, {"sku": b, "qty": 1}], "attempt_id": unique("g")})
    gid = r.json()["id"]
    with psycopg.connect(database_url(pg_url, "inventory")) as conn:
        def state() -> str:
            return conn.execute(A.group_states.sql, {"ids": [gid]}).fetchone()[1]

        assert state() == "held"
        conn.execute("UPDATE reservations SET state = 'released' WHERE group_id = %s AND sku = %s", (gid, b))
        assert state() == "partial"
        conn.rollback()
    assert httpx.post(f"{urls['inventory']}/reservation-groups/{gid}/release").status_code == 200
