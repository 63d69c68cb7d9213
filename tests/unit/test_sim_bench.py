"""`lastunit.bench.sim.run` is what `lastunit bench sim` calls: it returns its rate rows (speed is measured, not asserted)."""

from __future__ import annotations

from lastunit.bench.sim import run


def test_bench_returns_rate_rows():
    (row,) = run(seconds=0.3)
    assert {"name", "simulated_attempts", "wall_s", "attempts_per_wall_s", "events_per_wall_s"} <= set(row)
    assert row["simulated_attempts"] > 0 and row["wall_s"] >= 0.3 * 4 / 5   # a fifth goes to the baseline
    assert row["events_per_wall_s"] > row["attempts_per_wall_s"] > 0
    assert row["baseline_per_wall_s"] > 0
    assert row["ratio"] == round(row["attempts_per_wall_s"] / row["baseline_per_wall_s"], 3)
    assert row["peak_hour_wall_min"] > 0
