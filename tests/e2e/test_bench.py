"""Benchmarks as a user runs them: they write ratio rows to results/bench/. No speed is asserted."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import lastunit

pytestmark = [pytest.mark.usefixtures("lab"), pytest.mark.requires_pg, pytest.mark.requires_redis,
              pytest.mark.slow]


CONTRACT = {"name", "strategy", "clients", "ops_s", "p50_ms", "p99_ms", "baseline", "baseline_ops_s", "ratio"}


def test_bench_reserve_writes_ratios_against_pgbench():
    r = lastunit("bench", "reserve", "--strategy", "guarded", "--clients", "2", "--seconds", "1", "--rows",
                 "stocked", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["baseline"].startswith("pgbench") and row["baseline_ops_s"] > 0 and row["ratio"] > 0
    assert CONTRACT <= set(row) and row["stock"] == "stocked"


def test_bench_reserve_sold_out_rows_with_the_short_circuit_off_and_on():
    r = lastunit("bench", "reserve", "--strategy", "batched", "--clients", "2", "--seconds", "1", "--rows",
                 "sold-out", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["strategy"], x["stock"], x["sold_out"]) for x in rows] == [("batched", "sold-out", "off"),
                                                                          ("batched", "sold-out", "on")]
    assert all(CONTRACT <= set(x) and x["won"] == 0 and x["out_of_stock"] > 0 for x in rows)


def test_bench_sim_keeps_the_contract():
    r = lastunit("bench", "sim", "--seconds", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["engine"] for x in rows] == ["hybrid", "events"]      # one row per engine, same baseline
    assert all(CONTRACT <= set(x) and x["ops_s"] > 0 and x["ratio"] > 0 for x in rows)
    assert len({x["baseline_ops_s"] for x in rows}) == 1


def test_bench_checkout_climbs_a_ladder_beside_the_reservation_baseline():
    r = lastunit("bench", "checkout", "--strategy", "guarded", "--rates", "5,10", "--seconds", "1", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["name"] == "checkout" and [s["rate"] for s in row["steps"]][:1] == [5.0]
    assert row["baseline_steps"] and row["p99_target_ms"] == 500.0
    assert {"sagas_s", "cpu_ms_per_checkout", "cpu_ms_by_process"} <= set(row) and row["audit_ok"]
    first = row["steps"][0]
    assert first["attempts"] > 0 and first["unfinished"] == 0 and first["sagas_s"] > 0
    assert {"orders", "payment", "psp", "postgres"} <= set(first["cpu_ms_by_process"])
    assert first["cpu_ms_per_checkout"] == pytest.approx(sum(first["cpu_ms_by_process"].values()), abs=0.05)


def test_bench_idle_reads_every_process_of_the_stack_beside_the_machine():
    r = lastunit("bench", "idle", "--seconds", "1", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert {"name", "strategy", "clients", "ops_s", "p50_ms", "p99_ms", "baseline", "baseline_ops_s",
            "ratio"} <= set(row) and row["name"] == "idle"
    assert {"postgres", "redis", "orders", "psp", "supervisor"} <= set(row["cpu_pct_by_process"])
    assert row["cpu_pct_of_one_core"] == pytest.approx(sum(row["cpu_pct_by_process"].values()), abs=0.01)
    assert row["machine_cpu_pct_of_one_core"] >= 0


def test_bench_soak_on_a_stack_that_keeps_events_an_hour_says_how_to_start_one_that_prunes():
    r = lastunit("bench", "soak", "--minutes", "2")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "LAB_RETENTION_S=60 lastunit up" in r.stderr


@pytest.mark.parametrize("args", [("--rates", "fast"), ("--rates", "0"), ("--clients", "x")])
def test_bad_bench_options_are_one_line(args):
    r = lastunit("bench", "checkout" if args[0] == "--rates" else "reserve", *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
