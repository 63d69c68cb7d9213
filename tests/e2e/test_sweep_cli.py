"""`lastunit sweep` as typed: a grid x seeds with 95% intervals, the same table on a local pool and on Dask."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import lastunit

#: 3 strategies x 4 rates on a one-second open load in the race model: small enough for a test, the
#: shape the issue asks for.
GRID = ("prime_day_burst", "--model", "race", "--set", "load.duration_s=1",
        "--grid", "inventory.strategy=guarded,pessimistic,optimistic", "--grid", "load.rate=20,40,80,160")


def test_three_strategies_four_rates_five_seeds_each_with_its_interval():
    r = lastunit("sweep", *GRID, "--seeds", "5", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 12
    assert {(x["inventory.strategy"], x["load.rate"]) for x in rows} == {
        (s, rate) for s in ("guarded", "pessimistic", "optimistic") for rate in (20, 40, 80, 160)}
    for x in rows:
        assert x["seeds"] == 5
        for m in ("throughput_per_s", "p50_ms", "p99_ms", "won"):
            assert x[m] > 0 and x[f"{m}_ci95"] is not None and x[f"{m}_ci95"] >= 0
    by_rate = {x["load.rate"]: x["throughput_per_s"] for x in rows if x["inventory.strategy"] == "guarded"}
    assert by_rate[160] > by_rate[20]               # the grid axis reached the model

    text = lastunit("sweep", *GRID[:-2], "--grid", "load.rate=20,40", "--seeds", "3", "--quiet")
    assert text.returncode == 0, text.stderr
    lines = [ln for ln in text.stdout.splitlines() if ln.strip().startswith(("guarded", "pessimistic", "optimistic"))]
    assert len(lines) == 6 and all("±" in ln for ln in lines)
    assert "sweep.png" not in text.stdout and "results" in text.stdout


def test_a_dask_cluster_gives_the_same_table_as_the_local_pool():
    distributed = pytest.importorskip("distributed")
    args = ("sweep", "last_unit_race", "--grid", "inventory.strategy=guarded,optimistic",
            "--grid", "load.buyers=4,12", "--seeds", "3", "--json", "--quiet")
    local = lastunit(*args)
    assert local.returncode == 0, local.stderr
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        remote = lastunit(*args, "--scheduler", cluster.scheduler_address)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert len(json.loads(local.stdout)) == 4


@pytest.mark.parametrize("args", [
    ("sweep", "last_unit_race", "--grid", "load.buyers"),
    ("sweep", "last_unit_race", "--grid", "load.buyerz=1,2"),
    ("sweep", "last_unit_race", "--seeds", "0"),
    ("sweep", "last_unit_race", "--grid", "load.rate=10,20"),
    ("sweep", "last_unit_race", "--scheduler", "tcp://127.0.0.1:9"),
])
def test_bad_sweeps_are_one_line_and_exit_2(args):
    r = lastunit(*args, "--quiet")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
