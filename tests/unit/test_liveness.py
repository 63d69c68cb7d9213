"""The liveness check as a pure function: refusals against availability rebuilt from events."""

from __future__ import annotations

from scenarios.liveness import Refusal, Timeline, check_liveness, timelines

BOUND = 0.5


def _refused(aid, t_start, t_end=None, wh=None, qty=1, sku="s"):
    return Refusal(aid, sku, wh, qty, t_start, t_end if t_end is not None else t_start + 0.01)


def test_timeline_steps_and_unbroken_stretches():
    line = Timeline([(0.0, 1), (1.0, -1), (2.0, 1), (2.0, 1), (3.0, -1)])
    assert (line.times, line.values) == ([0.0, 1.0, 2.0, 3.0], [1, 0, 2, 1])
    assert line.available_since(1, 0.5) == 0.0
    assert line.available_since(1, 1.5) is None
    assert line.available_since(1, 3.5) == 2.0        # 2 then 1 unit: one stretch for qty 1
    assert line.available_since(2, 3.5) is None        # but not for qty 2
    assert line.available_since(1, -1.0) is None


def test_refusal_past_the_bound_while_a_unit_stood_available_is_a_breach_with_witnesses():
    rows = timelines({("s", "wh-1"): [(0.0, 1), (0.1, -1), (1.0, 1)]})      # sold at 0.1, back at 1.0
    refusals = [_refused("early", 0.2), _refused("soon-after", 1.2), _refused("late", 1.6), _refused("later", 3.0)]
    out = check_liveness(refusals, rows, BOUND)
    assert not out["liveness_ok"] and out["refused_while_available"] == 2
    (breach,) = out["liveness_breaches"]
    assert breach["witnesses"] == ["later", "late"] and breach["warehouse"] == "wh-1"


def test_a_unit_taken_before_the_answer_excuses_the_refusal():
    rows = timelines({("s", "wh-1"): [(0.0, 1), (0.1, -1), (1.0, 1), (2.0, -1)]})
    assert check_liveness([_refused("x", 1.9, 2.05)], rows, BOUND)["liveness_ok"]


def test_any_warehouse_counts_unless_the_buyer_named_one():
    rows = timelines({("s", "wh-1"): [(0.0, 1), (0.1, -1)], ("s", "wh-2"): [(0.0, 1)]})
    assert not check_liveness([_refused("any", 2.0)], rows, BOUND)["liveness_ok"]
    assert check_liveness([_refused("named", 2.0, wh="wh-1")], rows, BOUND)["liveness_ok"]


def test_a_big_ask_is_only_owed_when_enough_units_stood():
    rows = timelines({("s", "wh-1"): [(0.0, 1)]})
    assert check_liveness([_refused("two", 2.0, qty=2)], rows, BOUND)["liveness_ok"]
    assert not check_liveness([_refused("one", 2.0, qty=1)], rows, BOUND)["liveness_ok"]


def test_no_refusals_nothing_to_find():
    out = check_liveness([], {}, BOUND)
    assert out["liveness_ok"] and out["refusals_checked"] == 0
