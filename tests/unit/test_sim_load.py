"""The crowd the model draws: Poisson arrivals following the stage shape, SKU choice, fixed per seed.

The point of one stream per source: a strategy comparison compares strategies, not different crowds.
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.arrivals import SkuPicker, arrival_windows, rate_at, stages
from scenarios.loader import load
from scenarios.strategies import Strategy
from sim.calibration import Calibration
from sim.engine import simulate
from sim.streams import SOURCES, spawn

OPEN = ["load.model='open'", "load.duration_s=1", "load.hot_fraction=0.5",
        "load.shape=[{at_s=0, rate=100}, {at_s=1, rate=900}]",
        "catalog.skus=200", "catalog.hot_skus=2", "catalog.hot_stock=5", "catalog.warehouses=2"]


def crowd_of(strategy: Strategy) -> list[tuple]:
    run = simulate(load("last_unit_race", [*OPEN, f"inventory.strategy={strategy}"]), "test-crowd")
    return [(r["attempt_id"], r["t_intended"], r["sku"]) for r in run.rows]


def test_changing_the_strategy_does_not_change_the_crowd():
    crowds = {s: crowd_of(s) for s in Strategy}
    base = crowds[Strategy.GUARDED]
    assert len(base) > 300
    assert all(c == base for c in crowds.values())


def test_open_arrivals_follow_the_piecewise_linear_shape():
    sc = load("last_unit_race", ["load.model='open'", "load.duration_s=20",
                                 "load.shape=[{at_s=0, rate=0}, {at_s=10, rate=4000}, {at_s=20, rate=0}]"])
    t = np.concatenate(list(arrival_windows(stages(sc.load), sc.load.duration_s, np.random.default_rng(3))))
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 20
    counts, _ = np.histogram(t, bins=4, range=(0, 20))
    expected = [5000, 15000, 15000, 5000]         # the integral of the triangle over each 5 s
    assert counts == pytest.approx(expected, rel=0.03)
    assert rate_at(stages(sc.load), np.array([-1.0, 5.0, 25.0])).tolist() == [0.0, 2000.0, 0.0]


def test_sku_picker_hot_share_and_zipf_head():
    sc = load("last_unit_race", ["catalog.skus=1002", "catalog.hot_skus=2", "catalog.zipf_s=1.1"])
    picks = SkuPicker(sc.catalog, 0.3, np.random.default_rng(5)).many(200_000)
    assert (picks < 2).mean() == pytest.approx(0.3, abs=0.01)
    cold = picks[picks >= 2] - 2
    ranks = np.arange(1, 1001) ** -1.1
    assert (cold == 0).mean() == pytest.approx(ranks[0] / ranks.sum(), rel=0.03)
    assert cold.max() < 1000


def test_seed_streams_are_independent_and_reproducible():
    a, b = spawn(11), spawn(11)
    assert tuple(a) == SOURCES
    assert all(a[k].random() == b[k].random() for k in SOURCES)
    assert len({spawn(11)[k].random() for k in SOURCES}) == len(SOURCES)


def test_closed_model_runs_for_its_duration():
    sc = load("last_unit_race", ["load.model='closed'", "load.users=8", "load.duration_s=0.2",
                                 "load.think_ms=5", "catalog.skus=50", "catalog.hot_stock=3"])
    run = simulate(sc, "test-closed")
    assert {r["user_id"] for r in run.rows} == {f"user-{u}" for u in range(8)}
    assert max(r["t_intended"] for r in run.rows) < 0.2 and run.audit["ok"]


def test_calibration_round_trips_through_json(tmp_path):
    cal = Calibration(sql_ms=0.25, commit_ms=0.08, source="calibrate-test")
    assert Calibration.load(cal.save(tmp_path / "cal.json")) == cal
    (tmp_path / "bad.json").write_text('{"sql_ms": 0.3, "typo_ms": 1}')
    with pytest.raises(ValueError, match="typo_ms"):
        Calibration.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="sql_ms"):
        Calibration(sql_ms=-1)
