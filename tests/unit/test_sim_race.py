"""The model's last-unit races: every safe strategy sells exactly the stock; the naive control oversells.

Pure SimPy, no servers: the same assertions the integration race makes against PostgreSQL, so a strategy
whose model and real semantics drift apart fails one side or the other.
"""

from __future__ import annotations

import pytest

from scenarios.loader import load
from scenarios.results import ATTEMPT_COLUMNS, Outcome, frame, summarize
from scenarios.strategies import Strategy, safe
from sim.calibration import DEFAULT, Calibration
from sim.engine import simulate


def race(*overrides: str, calibration: Calibration | None = None):
    run = simulate(load("last_unit_race", list(overrides)), "test-race", calibration or DEFAULT)
    return run, summarize(frame(run.rows), run.wall_s)


@pytest.mark.parametrize("strategy", safe(), ids=str)
def test_one_unit_fifty_buyers_exactly_one_wins(strategy):
    run, s = race("load.buyers=50", f"inventory.strategy={strategy}")
    assert (s["won"], s["out_of_stock"], s["failed"], s["unknown"]) == (1, 49, 0, 0)
    assert run.audit["ok"] and run.audit["oversold_units"] == 0
    assert run.audit["counter_drift_units"] == 0 and run.audit["stock_conserved"]
    assert not run.audit["expected_control_breaches"]


@pytest.mark.parametrize("strategy", safe(), ids=str)
def test_seven_units_three_warehouses_two_hundred_buyers(strategy):
    run, s = race("load.buyers=200", f"inventory.strategy={strategy}", "catalog.hot_stock=7",
                  "catalog.warehouses=3")
    assert (s["won"], s["out_of_stock"], s["failed"]) == (7, 193, 0)
    assert run.audit["ok"] and run.audit["rows_checked"] == 3
    won_by_wh = {wh: sum(1 for r in run.rows if r["warehouse"] == wh) for wh in ("wh-001", "wh-002", "wh-003")}
    assert won_by_wh == {"wh-001": 3, "wh-002": 2, "wh-003": 2}   # 7 spread 3/2/2, each sold out exactly


def test_rows_follow_the_results_schema():
    run, s = race("load.buyers=20", "inventory.strategy=optimistic")
    assert all(tuple(r) == ATTEMPT_COLUMNS for r in run.rows)
    assert {r["engine"] for r in run.rows} == {"sim"}
    assert all(r["t_intended"] == 0.0 <= r["t_start"] < r["t_end"] for r in run.rows)
    assert {r["outcome"] for r in run.rows} <= {o.value for o in Outcome}
    assert run.wall_s == max(r["t_end"] for r in run.rows)
    assert s["retries"] == sum(r["retries"] for r in run.rows) == run.stats["cas_misses"]
    assert run.stats["events"] > 0 and run.stats["pool"]["served"] == 20


@pytest.mark.parametrize("buyers", [2, 50])
def test_naive_oversells_when_its_window_overlaps(buyers):
    run, s = race(f"load.buyers={buyers}", "inventory.strategy=naive", "inventory.naive_window_ms=20")
    assert s["won"] > 1
    assert run.audit["control_oversold_units"] == s["won"] - 1
    assert run.audit["oversold_units"] == 0 and run.audit["ok"]      # expected, reported apart
    (breach,) = [b for b in run.audit["expected_control_breaches"] if b["invariant"] == "oversold"]
    assert breach["control"] and breach["strategies"] == ["naive"] and breach["witnesses"]
    assert run.audit["counter_drift_units"] == s["won"] - 1          # the lost update, in the counters


def test_a_sleepers_extra_is_a_delay_and_a_safe_strategys_extra_queues_on_the_loop():
    """The naive control's fitted extra is its sleep's overshoot: 16 buyers overlap it. Another
    strategy's extra is loop CPU: 16 buyers pay it one after another."""
    def makespan(strategy: str, extra_ms: float) -> float:
        cal = Calibration(cv=0.0, strategy_ms={strategy: extra_ms})
        return race("load.buyers=16", "catalog.hot_stock=16", f"inventory.strategy={strategy}",
                    calibration=cal)[0].wall_s

    assert makespan("naive", 5.0) - makespan("naive", 0.0) == pytest.approx(0.005, abs=0.001)
    assert makespan("pessimistic", 5.0) - makespan("pessimistic", 0.0) > 10 * 0.005   # mostly serial


def test_naive_is_fine_alone_with_no_window():
    run, s = race("load.buyers=1", "inventory.strategy=naive", "inventory.naive_window_ms=0")
    assert (s["won"], s["out_of_stock"]) == (1, 0)
    assert run.audit["control_oversold_units"] == 0 and not run.audit["expected_control_breaches"]


def test_pessimistic_lock_wait_times_out_as_failed():
    # each holder keeps the row lock >= 1 s, so the last of the 15 waiters the pool lets in passes 10 s
    slow = Calibration(sql_ms=1000.0)
    run, s = race("load.buyers=40", "inventory.strategy=pessimistic", calibration=slow)
    assert s["won"] == 1 and s["failed"] > 0 and s["failed"] == run.stats["lock_timeouts"]
    assert s["won"] + s["out_of_stock"] + s["failed"] == 40 and run.audit["ok"]


def test_serializable_aborts_are_retries():
    run, s = race("load.buyers=50", f"inventory.strategy={Strategy.SERIALIZABLE}")
    assert run.stats["aborts"] > 0 and s["retries"] == run.stats["aborts"]
