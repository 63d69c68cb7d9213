"""Held-out validation cells and the saga's targets: pure parts (the real races are the e2e test's)."""

from __future__ import annotations

import pytest

from lastunit.usecases import holdout as ho
from lastunit.usecases.calibrate import RACE_STRATEGIES, RACES
from lastunit.usecases.validate import GRID
from lastunit.usecases.validate_saga import TARGETS, targets


def grid_cells():
    return [(s, b, k) for s in GRID["strategies"] for b in GRID["buyers"] for k in GRID["stocks"]]


def test_held_out_cells_avoid_what_calibration_and_the_grid_ran():
    exclude = ho.seen(grid_cells())
    assert ("guarded", 8, 1, 1) in exclude and ("redis", 64, 64, 1) in exclude
    cells = ho.draw(40, seed=3, quick=False, exclude=exclude)
    assert len(set(cells)) == 40 and not set(cells) & exclude
    for _strategy, buyers, stock, warehouses in cells:
        assert 2 <= buyers <= 256 and 1 <= stock <= buyers and 1 <= warehouses <= 4
    assert {c[0] for c in cells} == set(GRID["strategies"])          # every strategy comes up
    assert len({c[3] for c in cells}) > 1 and any(c[2] > 1 for c in cells)


def test_the_draw_is_seeded():
    exclude = ho.seen(grid_cells())
    assert ho.draw(5, 11, False, exclude) == ho.draw(5, 11, False, exclude)
    assert ho.draw(5, 11, False, exclude) != ho.draw(5, 12, False, exclude)
    assert all(c[1] <= 24 and c[0] in ho.QUICK_SPACE["strategies"] for c in ho.draw(5, 1, True, exclude))


def test_held_out_scenario_carries_every_coordinate():
    sc = ho.scenario("optimistic", 37, 5, 3, seed=2)
    assert (sc.inventory.strategy.value, sc.load.buyers, sc.catalog.hot_stock, sc.catalog.warehouses, sc.seed) == (
        "optimistic", 37, 5, 3, 2)


def row(strategy, buyers, thr, p50, p99, match=True):
    return {"strategy": strategy, "buyers": buyers, "stock": 1, "warehouses": 1, "outcomes_match": match,
            "throughput_per_s_err": thr, "p50_ms_err": p50, "p99_ms_err": p99}


def test_held_out_summary_reports_targets_outcomes_and_the_crowd_trend():
    rows = [row("guarded", 4, -0.05, 0.1, 0.2), row("optimistic", 200, -0.25, 0.3, 0.5),
            row("redis", 50, 0.9, 0.9, 0.9), row("naive", 30, 0.0, 0.0, 0.0, match=False)]
    s = ho.summarize(rows, seed=9)
    assert s["seed"] == 9 and len(s["cells"]) == 4
    assert s["median_abs_err_throughput_per_s_pg"] == pytest.approx(0.05)     # guarded, optimistic, naive
    assert s["targets"]["throughput_per_s"] == {"target": 0.10, "met": True}
    assert s["targets"]["p99_ms"]["met"] is True and s["targets"]["p50_ms"]["met"] is True
    assert s["outcomes_match_safe"] is True                                   # the control may differ
    assert s["crowd_trend_throughput_err"] == pytest.approx(-0.20)            # largest minus smallest crowd


def test_saga_targets_are_met_only_at_every_rate():
    rows = [{"rate": r, "p50_ms_met": r < 80, "sagas_per_s_met": True} for r in (20, 40, 80, 120)]
    t = targets(rows)
    assert t["p50_ms"] == {"target": TARGETS["p50_ms"], "met": False, "missed_at": [80, 120]}
    assert t["sagas_per_s"]["met"] is True and t["sagas_per_s"]["missed_at"] == []
    assert RACES and RACE_STRATEGIES
