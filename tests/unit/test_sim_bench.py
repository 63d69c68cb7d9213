"""`sim.bench.run` is what `lastunit bench sim` will call: it must return its rows, quickly."""

from __future__ import annotations

from sim.bench import run


def test_bench_returns_rate_rows_within_budget():
    (row,) = run(seconds=0.3)
    assert {"name", "simulated_attempts", "wall_s", "attempts_per_wall_s", "events_per_wall_s"} <= set(row)
    assert row["simulated_attempts"] > 1000 and 0.3 <= row["wall_s"] < 1.0
    assert row["events_per_wall_s"] > row["attempts_per_wall_s"] > 0
