"""Replications and sweeps, the pure parts: the t-interval, the grid's syntax, cells, the plan's checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lastunit.usecases.replicas import ci95, interval_row, t975
from lastunit.usecases.sweep import SweepError, cells, override, parse_grid, plan, split_values


def test_ci95_is_the_student_t_interval_over_seeds():
    mean, half = ci95([1, 2, 3, 4, 5])
    assert mean == 3.0
    assert half == pytest.approx(2.776 * np.std([1, 2, 3, 4, 5], ddof=1) / math.sqrt(5))


def test_ci95_degenerate_cases():
    assert ci95([4.0]) == (4.0, None)                  # one seed: no spread to estimate
    assert ci95([2.0, 2.0, 2.0]) == (2.0, 0.0)         # every seed agrees
    assert ci95([None, None]) == (None, None)          # a metric no run had
    assert ci95([1.0, None, 3.0])[0] == 2.0


def test_t_quantile_table_is_conservative_between_rows_and_normal_far_out():
    assert t975(1) == 12.706 and t975(4) == 2.776
    assert t975(35) == t975(30) > t975(40)             # between rows: the smaller df's wider value
    assert t975(10_000) == 1.96
    with pytest.raises(ValueError):
        t975(0)


def test_interval_row_has_seeds_mean_and_ci95_for_every_metric():
    row = interval_row({"load.buyers": 16}, [{"p50_ms": 1.0}, {"p50_ms": 3.0}], ("p50_ms", "won"))
    assert row["load.buyers"] == 16 and row["seeds"] == 2
    assert row["p50_ms"] == 2.0 and row["p50_ms_ci95"] == pytest.approx(12.706 * math.sqrt(2) / math.sqrt(2), abs=1e-3)
    assert row["won"] is None and row["won_ci95"] is None


def test_grid_values_split_at_top_level_commas_only():
    assert split_values("guarded, optimistic") == ["guarded", "optimistic"]
    assert split_values('[{at_s=0, rate=5}],[{at_s=0, rate=9}]') == ["[{at_s=0, rate=5}]", "[{at_s=0, rate=9}]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]


def test_cells_are_the_cartesian_product_first_axis_slowest():
    axes = parse_grid(["inventory.strategy=guarded,optimistic", "load.buyers=16,64"])
    assert cells(axes) == [{"inventory.strategy": "guarded", "load.buyers": "16"},
                           {"inventory.strategy": "guarded", "load.buyers": "64"},
                           {"inventory.strategy": "optimistic", "load.buyers": "16"},
                           {"inventory.strategy": "optimistic", "load.buyers": "64"}]
    assert cells([]) == [{}]                             # no grid: one cell, the scenario itself
    assert override("load.rate", "40") == "load.shape=[{at_s=0, rate=40}]"


@pytest.mark.parametrize("specs", [["load.buyers"], ["=1,2"], ["load.buyers="], ["a=1", "a=2"]])
def test_bad_grid_specs_are_refused(specs):
    with pytest.raises(SweepError):
        parse_grid(specs)


def test_plan_validates_every_cell_before_any_work_and_shares_seeds():
    p = plan("last_unit_race", parse_grid(["load.buyers=4,8"]), [], 3, None, {})
    assert p["model"] == "race" and p["seed_list"] == [7, 8, 9]
    assert [t["seed"] for t in p["tasks"]] == [7, 8, 9, 7, 8, 9]
    assert plan("payment_crash", [], [], 1, None, {})["model"] == "saga"   # an open load: the saga
    with pytest.raises(ValueError, match="load.buyers"):
        plan("last_unit_race", parse_grid(["load.buyers=4,0"]), [], 3, None, {})
    with pytest.raises(SweepError, match="--seeds"):
        plan("last_unit_race", [], [], 0, None, {})


def test_model_runs_say_what_they_leave_out(tmp_path):
    import json

    from lastunit.progress import Progress
    from lastunit.usecases.race import race_one
    from lastunit.usecases.sweep import not_modelled
    from scenarios.loader import load
    from sim.engine import NOT_MODELLED

    row = race_one(load("last_unit_race", ["load.buyers=8"]), "sim", Progress(enabled=False), parent=tmp_path,
                   plot=False)
    summary = json.loads((tmp_path / row["run_dir"].split("/")[-1] / "summary.json").read_text())
    assert summary["model"]["not_modelled"] == NOT_MODELLED
    assert any("late starts" in x for x in NOT_MODELLED) and any("group commit" in x for x in NOT_MODELLED)
    assert not_modelled("race", {}) == NOT_MODELLED
    assert any("late starts" in x for x in not_modelled("saga", {"saga": {"cpu_s": {"orders": 0.006}}}))
