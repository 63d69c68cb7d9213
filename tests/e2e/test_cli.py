"""The CLI as a user types it: real processes, real exit codes, output parsed as a user's script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

LASTUNIT = [sys.executable, "-m", "lastunit.cli"]


def lastunit(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*LASTUNIT, *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ | (env or {}))


@pytest.mark.parametrize("args", [
    ("race", "--strategy", "yolo"),
    ("race", "--buyers", "abc"),
    ("race", "--bogus-flag"),
    ("race", "--strategy", "guarded", "--set", "inventory.strategy"),
    ("race", "--strategy", "guarded", "--set", "load.buyerz=3"),
    ("race", "--strategy", "guarded", "--stock", "0"),
    ("race", "--scenario", "does_not_exist"),
    ("bench", "nothing"),
    ("validate", "--repeats", "0"),
    ("calibrate", "--saga-run", "/nonexistent/run-dir"),
    ("frobnicate",),
    ("run", "payment_crash", "--engine", "sim", "--set", "load.shape=[{at_s=0,rate=1e9}]"),   # was MemoryError
    ("run", "payment_crash", "--engine", "sim", "--set", "seed=-1"),
    ("run", "payment_crash", "--engine", "sim", "--set", "settle_s=-5"),
])
def test_bad_input_is_one_line_and_exit_2(args):
    r = lastunit(*args, env={"LAB_HOME": "/nonexistent/never-started"})
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("verb", ["up", "down", "status", "race", "audit", "report", "bench"])
def test_every_verb_teaches_with_help(verb):
    r = lastunit(verb, "--help")
    assert r.returncode == 0 and "usage: lastunit" in r.stdout


@pytest.mark.usefixtures("lab")
@pytest.mark.requires_pg
@pytest.mark.requires_redis
class TestOnTheStack:
    def test_guarded_thousand_buyers_one_unit(self):
        r = lastunit("race", "--strategy", "guarded", "--buyers", "1000", "--stock", "1", "--json", "--quiet")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert (out["won"], out["oversold_units"], out["out_of_stock"]) == (1, 0, 999)
        for key in ("strategy", "engine", "buyers", "stock", "failed", "unknown", "p50_ms", "p99_ms", "wall_s",
                    "run_dir"):
            assert key in out
        assert os.path.exists(os.path.join(out["run_dir"], "summary.json"))

    def test_naive_control_oversells_and_exits_1(self):
        r = lastunit("race", "--strategy", "naive", "--buyers", "200", "--stock", "1", "--json", "--quiet")
        assert r.returncode == 1
        assert json.loads(r.stdout)["oversold_units"] > 0

    def test_report_reads_a_run(self):
        r = lastunit("race", "--strategy", "pessimistic", "--buyers", "20", "--json", "--quiet")
        run_dir = json.loads(r.stdout)["run_dir"]
        rep = lastunit("report", run_dir, "--json")
        assert rep.returncode == 0 and json.loads(rep.stdout)[0]["won"] == 1

    def test_up_twice_is_harmless_and_status_json_maps_everything(self, lab):
        first = json.loads(lastunit("status", "--json").stdout)
        again = lastunit("up", "--json")
        assert again.returncode == 0
        assert json.loads(again.stdout)["postgres"]["url"] == first["postgres"]["url"]
        for name in ("postgres", "redis", "inventory"):
            assert first[name]["state"] == "running" and first[name]["url"]

    def test_audit_json(self, tmp_path):
        (tmp_path / "a-run-without-orders").mkdir()      # as a race leaves: results, no orders
        r = lastunit("audit", "--json", "--sku", "no-such-sku", "--run", "a-run-without-orders",
                     env={"LAB_RESULTS": str(tmp_path)})
        audit = json.loads(r.stdout)["audit"]
        assert r.returncode == 0 and audit["oversold_units"] == 0 and audit["orders"] == 0
        for key in ("double_charges", "money_conserved", "stranded", "shipped_unpaid", "stock_conserved"):
            assert key in audit

    def test_audit_of_a_run_that_does_not_exist_is_an_error_not_clean(self, tmp_path):
        r = lastunit("audit", "--run", "payment_crash-real-typo", env={"LAB_RESULTS": str(tmp_path)})
        assert r.returncode == 2 and "no run 'payment_crash-real-typo'" in r.stderr, (r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""


def test_race_on_the_model_needs_no_servers(tmp_path):
    r = lastunit("race", "--engine", "sim", "--strategy", "all", "--buyers", "50", "--json", "--quiet",
                 env={"LAB_HOME": "/nonexistent/never-started", "LAB_RESULTS": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    rows = {row["strategy"]: row for row in json.loads(r.stdout)}
    assert rows["naive"]["oversold_units"] > 0 and rows["naive"]["engine"] == "sim"
    assert all(rows[s]["won"] == 1 and rows[s]["oversold_units"] == 0 for s in rows if s != "naive")


def test_run_on_the_model_finds_the_control_double_charges_without_servers(tmp_path):
    env = {"LAB_HOME": "/nonexistent/never-started", "LAB_RESULTS": str(tmp_path)}
    safe = lastunit("run", "payment_crash", "--engine", "sim", "--json", "--quiet", env=env)
    control = lastunit("run", "payment_crash", "--engine", "sim", "--set", "payment.idempotency=false",
                       "--json", "--quiet", env=env)
    assert safe.returncode == 0, safe.stderr
    assert json.loads(safe.stdout)["audit"]["double_charges"] == 0
    assert control.returncode == 1 and json.loads(control.stdout)["audit"]["double_charges"] > 0
