"""`lastunit swarm`: a Locust swarm on the real stack, then the audit, in one run directory.

Locust always runs as a subprocess: importing it monkey-patches this process with gevent (and psycopg,
which the audit uses here, must never load before that patch). The workers write their attempts; this
process seeds the catalog, waits for the settle time, audits, merges, plots and judges.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import loadtests
from lastunit import journey_report
from lastunit import swarm_report as report
from lastunit.aio import run_sync
from lastunit.progress import Progress
from lastunit.tables import print_table
from lastunit.usecases import combined_audit, installed, record_run, settle, verdict
from lastunit.usecases.shop import seeded_skus
from loadtests.plan import DATABASE_ENV, PLAN_ENV, Plan, make_plan
from loadtests.race import REQUEST_TIMEOUT_S, seed
from loadtests.shape import DRAIN_S, RACE_MAX_S, stages_for
from reference_impl import stack
from reference_impl.audit.inventory import audit_inventory
from reference_impl.gateway import users
from reference_impl.infra.procs import free_port
from reference_impl.infra.settings import database_url
from reference_impl.inventory.reserve import sql_text as inventory_sql
from reference_impl.seed.catalog import ADJECTIVES, CATEGORIES
from scenarios import results
from scenarios.loader import load
from scenarios.spec import Scenario, ScenarioError
from scenarios.strategies import INFO, Strategy

LOCUSTFILE = Path(loadtests.__file__).parent / "locustfile.py"
USER_CLASS = {("race", "http"): "Racer", ("race", "sql"): "SqlRacer", ("open", "http"): "Shopper",
              ("open", "sql"): "SqlShopper", ("closed", "http"): "Shopper", ("closed", "sql"): "SqlShopper",
              ("race", "gateway"): "Racer", ("open", "gateway"): "Shopper", ("closed", "gateway"): "Shopper"}
#: Receipts posted at once while seeding: enough to seed thousands of SKUs in seconds, few enough that
#: the inventory's pool (16) is not swamped before the run even starts.
SEED_CONCURRENCY = 16
#: Beyond the plan's own length: Locust's start-up and the answers in flight when it stops.
LOCUST_MARGIN_S = 60.0


class SwarmError(RuntimeError):
    """Locust itself failed (not the shop): one line, exit 2."""


def _scenario(args) -> Scenario:
    overrides = list(args.set or [])
    if args.duration is not None:
        overrides.append(f"load.duration_s={args.duration}")
    sc = load(args.scenario, overrides)
    if args.processes < 1 or args.expect_workers < 0:
        raise ScenarioError("--processes: at least 1; --expect-workers: 0 or more")
    c = sc.catalog
    if sc.load.model == "race" and c.hot_skus < 1:
        raise ScenarioError("catalog.hot_skus: a race needs a hot SKU")
    if (c.hot_skus and c.hot_stock < 1) or (c.skus > c.hot_skus and c.stock_per_warehouse < 1):
        raise ScenarioError("catalog: every SKU in a swarm needs stock (hot_stock, stock_per_warehouse >= 1)")
    if args.via == "sql" and sc.inventory.strategy == Strategy.REDIS:
        raise ScenarioError("--via sql: the redis strategy needs the service (use --via http)")
    return sc


def seed_catalog(base: str, sc: Scenario, plan: Plan) -> None:
    c, gate = sc.catalog, None

    async def one(i: int) -> None:
        units = c.hot_stock if i < c.hot_skus else c.stock_per_warehouse * c.warehouses
        async with gate:
            await seed(base, plan.sku_name(i), units, c.warehouses)

    async def all_skus() -> None:
        nonlocal gate
        gate = asyncio.Semaphore(SEED_CONCURRENCY)
        await asyncio.gather(*(one(i) for i in range(c.skus)))

    run_sync(all_skus())


def run_locust(plan: Plan, path: Path, args) -> None:
    _, lead = stages_for(plan.model, plan.shape, plan.duration_s, plan.users, plan.spawn_rate)
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", plan.base_url,
           "--csv", str(path / "locust"), "--csv-full-history", "--html", str(path / "locust.html"),
           "--exit-code-on-error", "0", "--stop-timeout", f"{REQUEST_TIMEOUT_S:.0f}s", "--loglevel", "WARNING"]
    if args.expect_workers:
        cmd += ["--master", "--expect-workers", str(args.expect_workers), "--master-bind-host", args.master_bind]
    elif args.processes > 1:   # a free port: two swarms on one machine must not share Locust's default 5557
        port = str(free_port())
        cmd += ["--processes", str(args.processes), "--master-bind-port", port, "--master-port", port]
    env = os.environ | {PLAN_ENV: str(path / "plan.json")}
    if plan.via == "sql":
        env[DATABASE_ENV] = database_url(stack.server_url("postgres"), "inventory")
    limit = lead + plan.duration_s + DRAIN_S + RACE_MAX_S + LOCUST_MARGIN_S
    if args.expect_workers:
        limit += 600          # remote workers may take a while to connect
    with open(path / "locust.log", "w") as log:
        users = [USER_CLASS[plan.model, plan.via]] + (["Browser"] if plan.browsers else [])
        proc = subprocess.Popen([*cmd, *users], stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SwarmError(f"Locust ran past {limit:.0f}s and was stopped (see {path / 'locust.log'})") from None
    if rc != 0:
        tail = [ln for ln in (path / "locust.log").read_text(errors="replace").splitlines() if ln.strip()]
        raise SwarmError(f"Locust exited {rc}: {tail[-1] if tail else 'no output'} (see {path / 'locust.log'})")


def saga_swarm(sc, run_id: str, plan: Plan, path, args, say) -> dict:
    """Locust through the gateway with the scenario installed in every service, then the full audit."""
    with installed(sc, run_id) as run:
        run_locust(plan, path, args)
        faults = run.fired()
        run.faults_off()
        saga = settle(sc, run_id, Progress(enabled=not (args.json or args.quiet)))
    return combined_audit(saga, audit_inventory(stack.server_url("postgres"), plan.all_skus()), faults)


def swarm(args) -> tuple[dict, int, list[str]]:
    sc = _scenario(args)
    stack.ensure_up()
    run_id = results.new_run_id("swarm", sc.name)
    path = results.run_dir(run_id)
    entry = stack.service_url("gateway" if args.via == "gateway" else "inventory")
    plan = make_plan(sc, run_id, args.users, args.spawn_rate, args.via, entry, str(path),
                     getattr(args, "browsers", 0) or 0)
    plan.reserve_sql = inventory_sql()
    plan.search_adjectives, plan.search_nouns = list(ADJECTIVES), {c: list(n) for c, (n, _) in CATEGORIES.items()}
    say = (lambda m: None) if args.json or args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    if sc.journey is not None:      # a journey buys the seeded shop: its SKUs, its stock, its prices
        plan.skus = seeded_skus(stack.server_url("postgres"), sc)
        say(f"swarm {run_id}: a shopping journey over the seeded shop's {len(plan.skus)} SKU(s), "
            f"{plan.hot_skus} of them last-unit")
    else:
        say(f"swarm {run_id}: seeding {sc.catalog.skus} SKU(s) in {sc.catalog.warehouses} warehouse(s)")
        seed_catalog(stack.service_url("inventory"), sc, plan)
    (path / "plan.json").write_text(plan.to_json())
    if plan.accounts:               # gateway users log in with credentials made for this run
        say(f"creating {len(plan.accounts)} account(s) for the swarm's users")
        users.create(stack.server_url("postgres"), dict(plan.accounts))
    say(f"running Locust: {plan.model} model, {plan.users} users, strategy {plan.strategy}, via {plan.via}")
    if plan.via == "gateway":       # the saga's services take the scenario's knobs and faults from Redis
        audit = saga_swarm(sc, run_id, plan, path, args, say)
    else:
        run_locust(plan, path, args)
        if sc.settle_s > 0:
            say(f"settling {sc.settle_s:g}s before the audit")
            time.sleep(sc.settle_s)
        audit = audit_inventory(stack.server_url("postgres"), plan.all_skus())
    df, arrivals = report.merge_attempts(path), report.merge_arrivals(path)
    t0 = arrivals["t0"] or (float(df["t_intended"].min()) if len(df) else time.time())
    wall = float(df["t_end"].max()) - t0 if len(df) else 0.0
    inv = audit.get("inventory", audit)          # via gateway: the saga's audit wraps the inventory's
    oversold = inv["oversold_units"] + inv["control_oversold_units"]
    summary, _ = record_run(sc, run_id, "swarm", df, wall, audit, extra={
        "strategy": plan.strategy, "model": plan.model, "via": plan.via, "users": plan.users,
        "processes": args.processes, "arrivals": arrivals, "oversold_units": oversold, "audit_ok": audit["ok"],
        "run_dir": str(path)} | ({"latency_by_kind": journey_report.write(
            path, f"{sc.name}: latency by kind of request").to_dict("records")} if sc.journey else {}))
    report.plot_swarm(df, t0, plan.shape if plan.model == "open" else [],
                      f"{sc.name}: {plan.strategy}, {plan.users} users ({plan.model} model)", path / "swarm.png")
    row = {"strategy": plan.strategy, "engine": "swarm", "oversold_units": oversold,
           "control": INFO[Strategy(plan.strategy)].control,
           "breaches": inv["breaches"] + inv["expected_control_breaches"]
           + (audit["breaches"] if audit is not inv else [])}
    code, notes = verdict([row], comparing=False)
    if row["control"] and oversold:
        notes.append(f"{plan.strategy}: oversold {oversold}: the control's expected breach, caught by the audit")
    if arrivals["workers_reporting"] < max(args.processes, args.expect_workers or 0):
        notes.append(f"only {arrivals['workers_reporting']} worker(s) wrote files into {path}: copy the "
                     "others' attempts-*.csv and arrivals-*.json there (see README, Swarms)")
    return summary | {"audit": audit}, code, notes


def _print(s: dict) -> None:
    a = s["arrivals"]
    print(f"{s['scenario']} ({s['model']}, {s['strategy']}, via {s['via']}): {s['attempts']} attempts in "
          f"{s['wall_s']:.1f}s, {s['throughput_per_s']} /s")
    print("  outcomes  " + ", ".join(f"{o} {s[o]}" for o in ("won", "out_of_stock", "declined", "failed",
                                                             "unknown")))
    print(f"  latency from intended start: p50 {s['p50_ms']} ms, p90 {s['p90_ms']} ms, p99 {s['p99_ms']} ms, "
          f"max {s['max_ms']} ms")
    if s["model"] != "closed":
        print(f"  starts: {a['started']} started, {a['late']} late, {a['dropped']} dropped "
              f"(max lag {a['max_lag_ms']:.0f} ms)")
    au = s["audit"]
    inv = au.get("inventory", au)
    verdict_text = "FAILED" if not au["ok"] else "control breach (expected)" if s["oversold_units"] else "clean"
    print(f"  audit: oversold_units {s['oversold_units']}, stock_conserved {inv['stock_conserved']}, "
          f"counter drift {inv['counter_drift_units']}, partial groups {inv.get('partial_groups', 0)}, "
          f"rows {inv['rows_checked']}: {verdict_text}")
    if "double_charges" in au:
        print(f"  saga: orders {au['by_status']}, double_charges {au['double_charges']}, money_conserved "
              f"{au['money_conserved']}, stranded {au['stranded']}, faults fired {au['faults_fired'] or 'none'}")
    if "latency_by_kind" in s:
        print("  latency by kind of request (ms, from each request's own start):")
        print_table(s["latency_by_kind"], journey_report.LATENCY_COLUMNS)
        print(f"  run written to {s['run_dir']} (swarm.png, locust.html, requests.parquet, latency_by_kind.csv/png)")
        return
    print(f"  run written to {s['run_dir']} (swarm.png, locust.html)")


def main(args) -> int:
    try:
        summary, code, notes = swarm(args)
    except SwarmError as exc:
        print(f"lastunit swarm: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print(summary)
        for n in notes:
            print(n)
    return code
