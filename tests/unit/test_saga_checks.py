"""The saga invariants as pure checks: every key in every summary, and the money checks that read past the
orders (held on a final order, held for no order, payment rows for no order) can fail and can pass."""

from __future__ import annotations

from scenarios.saga_checks import check_saga

KEYS = {"ok", "orders", "by_status", "double_charges", "money_conserved", "provider_net_cents", "paid_orders_cents",
        "stranded", "shipped_unpaid", "unsettled_authorizations", "orphan_money", "orphan_money_cents",
        "orphan_payments", "partial_reservations", "mispriced", "breaches"}


def _order(oid, status, reservation_state):
    return {"id": oid, "status": status, "amount": 100, "reservation_state": reservation_state}


def _money(net, held=0, live=1):
    return {"live_charges": live, "captures": 1 if net else 0, "net": net, "charge_ids": ["ch_1"], "held": held}


def test_every_key_in_every_summary_even_with_nothing_to_judge():
    assert set(check_saga([], {})) == KEYS
    assert check_saga([], {})["ok"]


def test_a_settled_saga_is_clean():
    audit = check_saga([_order("a", "shipped", "committed"), _order("b", "cancelled", "released")],
                       {"a": _money(100), "b": _money(0, live=0)})
    assert audit["ok"] and audit["unsettled_authorizations"] == 0 and audit["orphan_money"] == 0


def test_money_still_held_on_a_cancelled_order_breaches():
    audit = check_saga([_order("b", "cancelled", "released")], {"b": _money(0, held=1)})
    assert not audit["ok"] and audit["unsettled_authorizations"] == 1
    assert audit["double_charges"] == 0 and audit["money_conserved"]   # the old checks saw nothing


def test_held_on_an_order_still_in_flight_is_only_stranded():
    audit = check_saga([_order("c", "confirmed", "held")], {"c": _money(0, held=1)})
    assert audit["unsettled_authorizations"] == 0 and audit["stranded"] == 1


def test_orphans_are_counted_with_witnesses():
    charge = {"charge": "ch_9", "reference": "0", "status": "authorized", "amount": 250}
    payment = {"payment": "p1", "order": "nope", "status": "authorizing", "amount": 250}
    audit = check_saga([], {}, [charge], [payment])
    assert not audit["ok"] and (audit["orphan_money"], audit["orphan_money_cents"], audit["orphan_payments"]) \
        == (1, 250, 1)
    assert {b["invariant"]: b["witnesses"] for b in audit["breaches"]} == \
        {"orphan_money": [charge], "orphan_payments": [payment]}


def test_a_split_basket_breaches_whatever_the_order_became():
    audit = check_saga([_order("d", "shipped", "partial")], {"d": _money(100)})
    assert not audit["ok"] and audit["partial_reservations"] == 1
    assert {b["invariant"] for b in audit["breaches"]} == {"partial_reservations", "stranded_reservations"}


def test_an_amount_that_is_not_its_lines_sum_or_not_what_was_authorized_breaches():
    assert check_saga([_order("e", "shipped", "committed") | {"lines_amount": 100}],
                      {"e": _money(100) | {"authorized_amounts": [100]}})["mispriced"] == 0
    assert check_saga([_order("e", "shipped", "committed") | {"lines_amount": 90}],
                      {"e": _money(100)})["mispriced"] == 1
    audit = check_saga([_order("e", "shipped", "committed") | {"lines_amount": 100}],
                       {"e": _money(100) | {"authorized_amounts": [100, 120]}})
    assert not audit["ok"] and audit["mispriced"] == 1
