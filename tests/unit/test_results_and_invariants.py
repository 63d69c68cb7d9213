"""The results schema and the invariants, as pure functions: what every engine's output must satisfy."""

from __future__ import annotations

import pytest

from loadtests.plan import MAX_SWARM_ACCOUNTS, make_plan
from loadtests.race import classify, spread
from scenarios.invariants import StockRow, check_stock
from scenarios.loader import load
from scenarios.results import ATTEMPT_COLUMNS, Outcome, frame, order_outcome, read_run, summarize, write_run


def _row(i, outcome, t_intended=0.0, t_end=1.0):
    return dict(zip(ATTEMPT_COLUMNS, ["r", "real", "s", "guarded", f"a{i}", f"u{i}", "sku", "wh-1", 1,
                                      t_intended, t_intended, t_end, outcome, i % 3, None, False], strict=True))


def test_latency_counts_from_the_intended_start_not_the_actual_one():
    rows = [_row(i, "won", t_intended=0.0, t_end=0.1 * (i + 1)) for i in range(10)]
    for r in rows:
        r["t_start"] = r["t_end"] - 0.001         # started late: queueing must still show
    s = summarize(frame(rows), wall_s=1.0)
    assert s["p50_ms"] == pytest.approx(550.0) and s["max_ms"] == pytest.approx(1000.0)
    assert s["won"] == 10 and s["retries"] == sum(i % 3 for i in range(10))


def test_frame_refuses_outcomes_outside_the_schema():
    with pytest.raises(ValueError, match="outside the schema"):
        frame([_row(0, "sort_of_won")])


def test_run_round_trip(tmp_path):
    df = frame([_row(i, o.value) for i, o in enumerate(Outcome)])
    write_run(tmp_path, df, summarize(df, 1.0), {"ok": True})
    back, summary, audit = read_run(tmp_path)
    assert list(back.columns) == list(ATTEMPT_COLUMNS) and summary["attempts"] == 5 and audit["ok"]


def test_spread_units_over_warehouses():
    assert spread(7, 3) == [("wh-1", 3), ("wh-2", 2), ("wh-3", 2)]
    assert spread(1, 3) == [("wh-1", 1)]


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (201, {}, Outcome.WON), (200, {"replayed": True}, Outcome.WON),
    (409, {"error": "out_of_stock"}, Outcome.OUT_OF_STOCK), (503, {"error": "retries_exhausted"}, Outcome.FAILED),
    (422, {"error": "invalid_request"}, Outcome.FAILED), (500, {}, Outcome.UNKNOWN), (502, {}, Outcome.UNKNOWN)])
def test_answers_map_to_outcomes(status, body, outcome):
    assert classify(status, body) is outcome


def _stock(**kw):
    base = dict(sku="s", warehouse="w", supply=1, on_hand=1, reserved=1, sold=0, held_units=1,
                committed_units=0, strategies={"guarded"})
    return StockRow(**(base | kw))


def test_clean_row_passes():
    assert check_stock([_stock()])["ok"]


def test_lost_update_is_oversell_even_when_the_counter_looks_right():
    audit = check_stock([_stock(held_units=3, late_reservations=["r2", "r3"])])
    assert not audit["ok"] and audit["oversold_units"] == 2 and audit["counter_drift_units"] == 2
    assert audit["breaches"][0]["witnesses"] == ["r2", "r3"]


def test_a_control_row_breach_is_expected_not_failing():
    audit = check_stock([_stock(held_units=3, strategies={"naive"})])
    assert audit["ok"] and audit["control_oversold_units"] == 2 and audit["expected_control_breaches"]


def test_a_row_touched_by_a_safe_strategy_is_never_excused():
    assert not check_stock([_stock(held_units=3, strategies={"naive", "guarded"})])["ok"]


def test_conservation_and_negatives():
    audit = check_stock([_stock(supply=2)])
    assert not audit["stock_conserved"]
    assert any(b["invariant"] == "non_negative" for b in check_stock([_stock(on_hand=0)])["breaches"])


@pytest.mark.parametrize(("status", "reason", "outcome"), [
    ("pending", None, None), ("confirmed", None, Outcome.WON), ("shipped", None, Outcome.WON),
    ("cancelled", "out_of_stock", Outcome.OUT_OF_STOCK), ("cancelled", "declined", Outcome.DECLINED),
    ("cancelled", "saga_abandoned", Outcome.FAILED), (None, None, None)])
def test_a_polled_order_means_to_its_buyer(status, reason, outcome):
    """What a client that polls its order records: nothing yet while pending, then the real outcome."""
    assert order_outcome(status, reason) is outcome


def test_resolved_late_is_counted_in_every_summary():
    df = frame([_row(0, "won") | {"resolved_late": True}, _row(1, "won"), _row(2, "unknown")])
    assert summarize(df, 1.0)["resolved_late"] == 1
    assert summarize(frame([_row(0, "won")]), 1.0)["resolved_late"] == 0


def test_a_gateway_swarm_gets_accounts_shared_round_robin_past_the_cap():
    plan = make_plan(load("last_unit_race", []), "run-x", users=MAX_SWARM_ACCOUNTS + 7, via="gateway")
    assert len(plan.accounts) == MAX_SWARM_ACCOUNTS and len({p for _, p in plan.accounts}) == MAX_SWARM_ACCOUNTS
    assert plan.account(0) == plan.account(MAX_SWARM_ACCOUNTS) == tuple(plan.accounts[0])
    assert make_plan(load("last_unit_race", []), "run-y", users=3).accounts == []     # http: no login
