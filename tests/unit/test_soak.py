"""`bench soak`'s verdicts as pure functions: a steady run passes, a table nobody prunes and a run that slows
down are caught (the controls)."""

from __future__ import annotations

from lastunit.bench.soak import per_minute, verdict, warmup_s


def _rows(rate_by_minute: list[float]) -> list[dict]:
    rows = []
    for m, rate in enumerate(rate_by_minute):
        n = int(rate * 60)
        rows += [{"t_intended": 60 * m + i / rate, "t_end": 60 * m + i / rate + 0.02} for i in range(n)]
    return rows


def _samples(minutes: int, level, grow_per_s: float = 0.0) -> list[dict]:
    return [{"t_s": float(t), "orders.outbox": level + grow_per_s * t} for t in range(0, 60 * minutes + 1, 10)]


def test_a_steady_run_with_pruned_tables_passes():
    minutes = per_minute(_rows([50.0] * 10), 0.0, 10)
    assert [m["checkouts"] for m in minutes] == [3000] * 10
    v = verdict(minutes, _samples(10, 4000), 60.0)
    assert v["throughput_steady"] and v["bounded_flat"] and v["warmup_s"] == warmup_s(60.0) == 120.0


def test_a_table_nobody_prunes_is_not_flat():
    v = verdict(per_minute(_rows([50.0] * 10), 0.0, 10), _samples(10, 1000, grow_per_s=50.0), 60.0)
    assert v["bounded_flat"] is False and v["growth_after_warmup"]["orders.outbox"] > 3


def test_a_run_that_slows_down_is_not_steady():
    v = verdict(per_minute(_rows([50.0] * 9 + [40.0]), 0.0, 10), _samples(10, 4000), 60.0)
    assert v["throughput_ratio"] < 0.9 and not v["throughput_steady"]


def test_a_count_that_starts_at_zero_and_grows_is_not_flat():
    samples = _samples(10, 0) + [{"t_s": 601.0, "orders.outbox": 5}]
    assert verdict(per_minute(_rows([50.0] * 10), 0.0, 10), samples, 60.0)["bounded_flat"] is False


def test_numpy_times_give_plain_json_values():
    import json

    import numpy as np

    rows = [{"t_intended": np.float64(r["t_intended"]), "t_end": np.float64(r["t_end"])} for r in _rows([50.0] * 3)]
    minutes = per_minute(rows, 0.0, 3)
    json.dumps(verdict(minutes, _samples(3, 10), 30.0) | {"per_minute": minutes})
