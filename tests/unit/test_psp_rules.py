"""The psp's pure rules: seeded dice, declines, request fingerprints, retry backoff, the state machine."""

from __future__ import annotations

from datetime import UTC, datetime

from reference_impl.psp import webhooks
from reference_impl.psp.charges import CARD_DECLINED, DECLINE_CARD, MOVES, RATE_DECLINED, decline_code
from reference_impl.psp.config import Knobs, draw
from reference_impl.psp.idempotency import fingerprint
from scenarios import policy


def test_draws_are_fixed_by_seed_and_identity_not_by_call_order():
    a = [draw(1, "decline", f"k{i}") for i in range(500)]
    assert a == [draw(1, "decline", f"k{i}") for i in range(500)]
    assert a != [draw(2, "decline", f"k{i}") for i in range(500)]
    assert draw(1, "drop", "k1") != draw(1, "duplicate", "k1")
    assert all(0 <= x < 1 for x in a)
    assert 0.4 < sum(x < 0.5 for x in a) / len(a) < 0.6


def test_the_test_card_always_declines_and_other_cards_follow_the_rate():
    assert decline_code(Knobs(decline_rate=0.0), "k", DECLINE_CARD) == CARD_DECLINED
    assert decline_code(Knobs(decline_rate=0.0), "k", "4242424242424242") is None
    assert decline_code(Knobs(decline_rate=1.0), "k", "4242424242424242") == RATE_DECLINED
    half = [decline_code(Knobs(decline_rate=0.3, seed=9), f"k{i}", "4242") for i in range(1000)]
    assert 0.25 < half.count(RATE_DECLINED) / 1000 < 0.35


def test_a_fingerprint_ignores_key_order_but_not_values_or_endpoint():
    a = fingerprint("POST", "/v1/charges", {"amount": 1, "reference": "o"})
    assert a == fingerprint("POST", "/v1/charges", {"reference": "o", "amount": 1})
    assert a != fingerprint("POST", "/v1/charges", {"reference": "o", "amount": 2})
    assert fingerprint("POST", "/v1/charges/ch_1/capture", None) != \
        fingerprint("POST", "/v1/charges/ch_1/void", None)


def test_backoff_doubles_and_is_capped():
    waits = [webhooks.backoff_s(n) for n in range(40)]
    base, cap = policy.WEBHOOK_BACKOFF_BASE_S, policy.WEBHOOK_BACKOFF_CAP_S
    assert waits[:3] == [base, 2 * base, 4 * base]
    assert max(waits) == cap == waits[-1]
    assert waits == sorted(waits)


def test_only_capture_and_refund_move_money_and_in_opposite_directions():
    assert {k: (m.source, m.target) for k, m in MOVES.items()} == {
        "capture": ("authorized", "captured"), "void": ("authorized", "voided"),
        "refund": ("captured", "refunded")}
    assert MOVES["capture"].sign == 1 and MOVES["refund"].sign == -1 and MOVES["void"].ledger_kind is None


def test_the_event_body_is_the_charge_under_its_event():
    ev = {"id": "evt_1", "type": "payment.captured", "created_at": datetime(2026, 1, 1, tzinfo=UTC),
          "data": '{"id": "ch_1", "status": "captured"}'}
    assert webhooks.event_body(ev) == (b'{"id":"evt_1","type":"payment.captured","created":1767225600,'
                                       b'"data":{"id":"ch_1","status":"captured"}}')
