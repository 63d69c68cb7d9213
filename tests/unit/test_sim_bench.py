"""`lastunit.bench.sim.run` is what `lastunit bench sim` calls: it returns its rate rows (speed is measured, not asserted)."""

from __future__ import annotations

from lastunit.bench.sim import run


def test_bench_returns_rate_rows_for_the_hybrid_and_the_full_model():
    hybrid, events = run(seconds=0.6)
    assert (hybrid["engine"], events["engine"]) == ("hybrid", "events")
    for row in (hybrid, events):
        assert {"name", "simulated_attempts", "wall_s", "ops_s", "baseline", "baseline_ops_s", "ratio"} <= set(row)
        assert {"strategy", "clients", "p50_ms", "p99_ms"} <= set(row)     # the rest of the bench contract
        assert row["p99_ms"] >= row["p50_ms"] > 0
        assert row["simulated_attempts"] > 0 and row["wall_s"] >= 0.6 * 4 / 5 / 2   # a fifth: the baseline
        assert row["ops_s"] > 0 and row["baseline_ops_s"] > 0
        assert row["ratio"] == round(row["ops_s"] / row["baseline_ops_s"], 3)
        assert row["peak_hour_wall_min"] > 0
    assert events["events_per_wall_s"] > events["ops_s"]
