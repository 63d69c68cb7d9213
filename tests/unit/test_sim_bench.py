"""`sim.bench.run` is what `lastunit bench sim` calls: it returns its rate rows (speed is measured, not asserted)."""

from __future__ import annotations

from sim.bench import run


def test_bench_returns_rate_rows():
    (row,) = run(seconds=0.3)
    assert {"name", "strategy", "clients", "ops_s", "p50_ms", "p99_ms", "baseline", "baseline_ops_s",
            "ratio"} <= set(row)                                    # the bench contract, as bench reserve's
    assert {"simulated_attempts", "wall_s", "events_per_wall_s"} <= set(row)
    assert row["simulated_attempts"] > 0 and row["wall_s"] >= 0.3 * 4 / 5   # a fifth goes to the baseline
    assert row["events_per_wall_s"] > row["ops_s"] > 0
    assert row["baseline_ops_s"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0
    assert row["ratio"] == round(row["ops_s"] / row["baseline_ops_s"], 3)
    assert row["peak_hour_wall_min"] > 0
