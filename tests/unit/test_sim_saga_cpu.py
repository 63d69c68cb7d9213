"""CPU per checkout from /proc snapshots (sim/saga/cpu.py), and the machine it drives in the saga model
(sim/saga/machine.py): a calibration whose CPU caps the stack near 50 checkouts/s queues at 100/s and not
at 10/s; without a measured CPU the model is what it was."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scenarios.loader import load
from sim.calibration import DEFAULT, Calibration
from sim.saga.cpu import CLK_TCK, parse_stat, per_checkout, rates, snapshot, tree_seconds
from sim.saga.machine import STEPS, UNWAITED, Machine, bursts
from sim.saga_run import simulate_saga


def _stat(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    # fields 3..13, then utime stime cutime cstime, then the rest (priority, nice, ...)
    return f"{pid} ({comm}) S {ppid} " + " ".join(["0"] * 9) + f" {utime} {stime} {cutime} {cstime} 20 0 1 0\n"


def test_parse_stat_reads_own_and_waited_children_ticks_even_with_odd_command_names():
    assert parse_stat(_stat(7, "python -m (x) y", 1, 100, 20, 3, 4)) == (1, 127)


def test_a_tree_counts_live_descendants_and_reaped_children_once():
    stats = {10: (1, 500), 11: (10, 40), 12: (11, 6), 13: (1, 999)}     # 13 is not in the tree
    assert tree_seconds(stats, 10, tick=100) == pytest.approx(5.46)
    assert tree_seconds(stats, 42, tick=100) == 0.0
    # backend 11 exits and is waited for: its 45 ticks move into its parent's cutime, nothing is lost
    after = {10: (1, 500 + 45 + 6), 13: (1, 999)}
    assert tree_seconds(after, 10, tick=100) == pytest.approx(5.51)


def test_snapshot_reads_a_proc_tree(tmp_path):
    for pid, text in {5: _stat(5, "postgres", 1, 300, 100), 6: _stat(6, "postgres: idle", 5, 50, 50),
                      9: _stat(9, "redis-server", 1, 20, 0)}.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(text)
    (tmp_path / "self").mkdir()
    assert snapshot({"postgres": 5, "redis": 9}, tmp_path) == {"postgres": 500 / CLK_TCK, "redis": 20 / CLK_TCK}


def test_per_checkout_subtracts_the_background_and_leaves_out_restarted_processes():
    before = {"orders": 10.0, "payment": 5.0, "shipping": 3.0}
    after = {"orders": 10.9, "payment": 5.5, "shipping": 1.0}           # shipping restarted: left out
    out = per_checkout(before, after, 100, wall_s=5.0, idle_per_s={"orders": 0.02})
    assert out == {"orders": pytest.approx((0.9 - 0.1) / 100), "payment": pytest.approx(0.005)}
    assert per_checkout({"a": 1.0}, {"a": 1.01}, 10, 5.0, {"a": 0.5}) == {"a": 0.0}   # never below zero
    assert rates({"a": 1.0}, {"a": 1.5}, 2.0) == {"a": 0.25}
    with pytest.raises(ValueError, match="checkouts > 0"):
        per_checkout(before, after, 0)


def test_every_process_cpu_is_charged_once_per_checkout():
    cpu_s = {"orders": 0.004, "payment": 0.003, "psp": 0.003, "shipping": 0.002, "notification": 0.001,
             "inventory": 0.002, "postgres": 0.007, "redis": 0.0007, "gateway": 0.5}
    waited, unwaited = bursts(cpu_s)
    on_path = sum(v for k, v in cpu_s.items() if k != "gateway")           # not on the checkout's path
    assert sum(waited.values()) + sum(unwaited.values()) == pytest.approx(on_path)
    assert set(waited) == set(STEPS) and set(unwaited) <= set(UNWAITED)


def test_a_step_waits_for_its_burst_and_what_is_left_of_its_delay_carrying_the_excess():
    import simpy

    m = Machine(simpy.Environment(), 1, {"orders": 0.004, "payment": 0.03, "psp": 0.0})
    assert m.pause("o", "entry", 0.005) == pytest.approx(0.005)            # 1 ms burst fits in a 5 ms delay
    assert m.pause("o", "authorize", 0.004) == pytest.approx(0.001 + 0.010)   # queued behind entry's burst
    assert m.debt["o"] == pytest.approx(0.006)                              # 10 ms of CPU, 4 ms of delay
    assert m.pause("o", None, 0.004) == 0.0 and m.pause("o", None, 0.004) == pytest.approx(0.002)
    assert "o" not in m.debt


#: ~40 ms of CPU per checkout on one core: the machine serves ~25 checkouts/s, ~50 on two
CPU_50 = {"orders": 0.008, "payment": 0.006, "psp": 0.004, "shipping": 0.003, "notification": 0.002,
          "inventory": 0.002, "postgres": 0.012, "redis": 0.003}


def _times(rate: float, saga: dict) -> tuple[np.ndarray, dict]:
    sc = load("payment_crash", ["faults=[]", f"load.shape=[{{at_s=0, rate={rate}}}, {{at_s=4, rate={rate}}}]",
                                "load.duration_s=4", "catalog.skus=20", "catalog.hot_skus=0",
                                "catalog.stock_per_warehouse=1000000"])
    cal = dataclasses.replace(DEFAULT, saga=saga)
    r = simulate_saga(sc, "test-cpu", cal)
    lat = np.array([x["t_end"] - x["t_intended"] for x in r.rows])
    assert len(lat) > 0 and all(x["outcome"] == "won" for x in r.rows)
    return lat, r.stats


SAGA = {"hop_s": 0.004, "bus_s": 0.02, "carrier_s": 0.005, "entry_s": 0.005, "reply_s": 0.002}


def test_without_measured_cpu_nothing_queues_outside_inventory():
    slow, stats = _times(100, SAGA)
    fast, _ = _times(10, SAGA)
    assert "machine" not in stats
    assert np.percentile(slow, 99) < 2 * np.percentile(fast, 99)


def test_the_machine_caps_the_saga_near_its_measured_capacity():
    saga = SAGA | {"cpu_s": CPU_50, "cores": 2}
    light, light_stats = _times(10, saga)
    heavy, heavy_stats = _times(100, saga)
    plain, _ = _times(10, SAGA)
    assert light_stats["machine"]["cores"] == 2 and light_stats["machine"]["utilization"] < 0.3
    # at 10/s the checkouts take about what the measured delays say (the CPU sits inside them)
    assert np.percentile(light, 50) == pytest.approx(np.percentile(plain, 50), rel=0.35)
    # at 100/s, twice the capacity: the queue grows through the run, so late checkouts wait longest
    assert np.percentile(heavy, 99) > 10 * np.percentile(light, 99)
    assert np.median(heavy[-50:]) > 3 * np.median(heavy[:50])
    assert heavy_stats["machine"]["utilization"] > 0.9
    assert "pools and per-process limits" in " ".join(heavy_stats["not_modelled"])


def test_calibration_rejects_negative_cpu_and_loads_the_measured_one(tmp_path):
    with pytest.raises(ValueError, match=r"saga\['cpu_s'\]\['orders'\]"):
        dataclasses.replace(DEFAULT, saga={"cpu_s": {"orders": -0.001}})
    path = dataclasses.replace(DEFAULT, saga=SAGA | {"cpu_s": CPU_50, "cores": 2}).save(tmp_path / "c.json")
    assert Calibration.load(path).saga["cpu_s"] == CPU_50


def test_the_supervisor_is_read_alone_and_the_machine_from_proc_stat():
    from sim.saga.cpu import own_seconds, parse_machine

    stats = {10: (1, 500), 11: (10, 40)}                     # the supervisor and one of its services
    assert own_seconds(stats, 10, tick=100) == pytest.approx(5.0) and own_seconds(stats, 99) == 0.0
    stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n"
    assert parse_machine(stat, tick=100) == pytest.approx((100 + 5 + 50 + 3 + 2 + 1) / 100)
