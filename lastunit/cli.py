"""`lastunit`: the lab's command line. Parses, dispatches, and turns known failures into one line."""

from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  lastunit up                                   start PostgreSQL, Redis and the services
  lastunit race --strategy all --buyers 500     every strategy, 500 buyers, 1 unit
  lastunit race --strategy naive --buyers 200   the control: watch it oversell (exits 1)
  lastunit race --strategy guarded --stock 7 --warehouses 3 --buyers 200 --json
  lastunit race --lines 2 --strategy pessimistic --lock-order request --buyers 40
                                                baskets {A, B} in opposite orders: the deadlock control
  lastunit swarm prime_day_burst --processes 2  a Prime-Day deal drop from Locust, then audit
  lastunit run payment_crash                    checkouts while the payment service crashes; audit
  lastunit run payment_crash --set payment.idempotency=false   the control: double charges
  lastunit swarm prime_day_burst --via gateway --browsers 5   the whole shop under Locust
  lastunit swarm prime_day_shop --via gateway --duration 60   shopping sessions on the seeded shop (after seed)
  lastunit seed --size 100000                   a generated catalog, searchable, stocked, with recommendations
  lastunit recs build                           add the shop's paid orders since the last build to "also bought"
  lastunit calibrate && lastunit validate       fit the model to this machine, then measure its error
  lastunit validate --saga                      the saga under rising load: real vs model, p50/p99/throughput
  lastunit race --strategy all --buyers 64 --engine both   the same race in the SimPy model beside the real one
  lastunit run shipping_failure --engine both   the saga and its compensation on both engines, one audit
  lastunit bench sim                            the model's checkouts per wall second vs plain SimPy
  lastunit sweep last_unit_race --grid inventory.strategy=guarded,optimistic --grid load.buyers=16,64 --seeds 5
                                                model cells x seeds in parallel, each metric with its 95% CI
  lastunit audit                                invariants over the databases now
  lastunit bench reserve                        hot-row throughput vs raw pgbench
  lastunit bench checkout                       the highest checkout rate with p99 < 500 ms
  lastunit bench idle                           what the stack burns while nobody uses it
  LAB_RETENTION_S=60 lastunit up && lastunit bench soak --rate 56 --minutes 10
                                                a long run: throughput drift and table growth
  LAB_WORKERS=2 lastunit up                     every service as two processes on its port
  lastunit serve orders --port 8001             one service alone, from its environment
  lastunit down                                 stop what `up` started
"""


class Parser(argparse.ArgumentParser):
    def error(self, message):          # one line, exit 2: no usage dump for a typo
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build() -> Parser:
    p = Parser(prog="lastunit", description="Does the shop sell the last unit exactly once? "
               "A concurrency lab for e-commerce checkout.", epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="verb", required=True, parser_class=Parser, metavar="VERB")

    up = sub.add_parser("up", help="start what is missing of the stack and print where it listens")
    up.add_argument("--fast", action="store_true", help="fsync off: for tests only, a crash may lose commits")
    up.add_argument("--json", action="store_true")
    down = sub.add_parser("down", help="stop what `up` started (servers named by DATABASE_URL are left alone)")
    down.add_argument("--purge", action="store_true", help="also delete .lab/ (data and logs)")
    st = sub.add_parser("status", help="each server and service: url and state (running, died, stopped)")
    st.add_argument("--json", action="store_true")
    sv = sub.add_parser("serve", help="run one service alone in the foreground, configured by its environment",
                        description="Runs SERVICE on --host/--port with the servers and peers named by its "
                        "environment (LAB_DATABASE_URL or DATABASE_URL, LAB_REDIS_URL or REDIS_URL, "
                        "LAB_<PEER>_URL, LAB_PSP_WEBHOOK_SECRET, ...), after creating and migrating its "
                        "databases if needed: to spread the shop over machines (see README). Start it twice on "
                        "one port for two processes.")
    sv.add_argument("service", help="inventory, orders, payment, psp, shipping, notification, gateway, ...")
    sv.add_argument("--port", type=int, required=True)
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                    "another machine needs a LAN address)")

    race = sub.add_parser("race", help="N buyers on K units at one instant; audit; one row per strategy",
                          description="Seeds a fresh hot SKU, connects every buyer, releases them together "
                          "at a barrier, waits for every answer, audits the database and writes "
                          "results/<run_id>/. Exits 1 if a safe strategy breaks an invariant; with "
                          "--strategy all the naive control's oversell is the expected breach.")
    race.add_argument("--strategy", default="all", help="naive, pessimistic, optimistic, guarded, "
                      "serializable, redis, batched, or all (default)")
    race.add_argument("--buyers", type=int, help="buyers released together (scenario default 500)")
    race.add_argument("--stock", type=int, help="units of the hot SKU (default 1)")
    race.add_argument("--warehouses", type=int, help="spread the units over this many warehouses")
    race.add_argument("--lines", type=int, help="SKUs each buyer wants, all or nothing (default 1); with 2 or more "
                      "buyers alternate the order (A, B / B, A) and --stock counts sets; the model (--engine sim) runs "
                      "pessimistic only")
    race.add_argument("--lock-order", help="several lines: sorted (default: no deadlock) or request (the control: "
                      "opposite orders deadlock, counted)")
    race.add_argument("--engine", choices=("real", "sim", "both"), default="real")
    race.add_argument("--scenario", default="last_unit_race", help="scenario file or bundled name")
    race.add_argument("--set", action="append", metavar="KEY=VALUE",
                      help="override a scenario field, e.g. inventory.naive_window_ms=50 (repeatable)")
    race.add_argument("--json", action="store_true", help="print result objects instead of the table")
    race.add_argument("--quiet", action="store_true", help="no progress on stderr")

    run = sub.add_parser("run", help="a scenario's checkouts through the whole saga, faults on; settle; audit",
                         description="Seeds the scenario's SKUs, installs its faults and knobs in every service, "
                         "runs its checkouts against the orders service, waits until every order is final (or "
                         "settle_s passes), audits stock, charges and money, writes results/<run_id>/. Exits 1 "
                         "on any breach.")
    run.add_argument("scenario", help="scenario file or bundled name (payment_crash, shipping_failure, ...)")
    run.add_argument("--engine", choices=("real", "sim", "both"), default="real")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a scenario field, e.g. payment.idempotency=false (repeatable)")
    run.add_argument("--json", action="store_true", help="print the summary with the audit under `audit`")
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")

    au = sub.add_parser("audit", help="check the invariants over the real databases now")
    au.add_argument("--sku", action="append", help="stock checks for this SKU only (repeatable)")
    au.add_argument("--run", metavar="RUN_ID", help="saga checks for this run's orders only")
    au.add_argument("--json", action="store_true")

    rep = sub.add_parser("report", help="summaries of runs side by side")
    rep.add_argument("runs", nargs="+", metavar="RUN", help="run directory or run id under results/")
    rep.add_argument("--json", action="store_true")

    sw = sub.add_parser("swarm", help="a Locust swarm on the real stack (open-model arrivals), then audit",
                        description="Starts the stack if needed, seeds the scenario's SKUs, runs Locust headless "
                        "in a subprocess (--processes N local workers), waits settle_s, audits the run's SKUs and "
                        "writes results/<run_id>/ (attempts, summary, audit, Locust's CSV and HTML, swarm.png). "
                        "Exits 1 on a breach, the naive control's included. A scenario with a [journey] "
                        "(prime_day_shop) runs shopping sessions on the seeded shop through the gateway (run `lastunit "
                        "seed` first) and reports each kind of request's latency (requests.parquet, latency_by_kind.csv).")
    sw.add_argument("scenario", help="scenario file or bundled name (prime_day_burst, last_unit_race)")
    sw.add_argument("--users", type=int, help="concurrent Locust users (default: from the scenario)")
    sw.add_argument("--spawn-rate", type=float, help="users started per second")
    sw.add_argument("--duration", type=float, help="seconds of load (overrides load.duration_s)")
    sw.add_argument("--processes", type=int, default=1, help="local Locust worker processes")
    sw.add_argument("--expect-workers", type=int, default=0,
                    help="run as master only and wait for N workers started elsewhere (see README)")
    sw.add_argument("--master-bind", default="127.0.0.1", help="address the master listens on for workers")
    sw.add_argument("--via", choices=("http", "gateway", "sql"), default="http",
                    help="http: the inventory's reserve + commit; gateway: the whole checkout saga through the gateway "
                    "(tokens, POST /checkout, payment, webhooks, shipping; audits charges too); sql: the SQL blocks")
    sw.add_argument("--browsers", type=int, default=0,
                    help="with --via gateway: this many Browser users beside the shoppers (search, product "
                    "pages, recommendations; seed a catalog first with `lastunit seed`)")
    sw.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a scenario field")
    sw.add_argument("--json", action="store_true", help="print the summary with the audit under `audit`")
    sw.add_argument("--quiet", action="store_true", help="no progress on stderr")

    seed = sub.add_parser("seed", help="generate a catalog and order history, load it, build recommendations")
    seed.add_argument("--size", type=int, default=10_000, help="SKUs in the catalog (default 10000)")
    seed.add_argument("--orders", type=int, default=20_000, help="orders in the history (default 20000)")
    seed.add_argument("--seed", type=int, default=1, help="random seed: same seed, same data")
    seed.add_argument("--wait-s", type=float, default=600, help="wait this long for search to catch up")
    seed.add_argument("--no-recs", action="store_true", help="do not build recommendations")
    seed.add_argument("--users", type=int, default=10,
                      help="accounts user-1..N to log in with; passwords in .lab/users.json (default 10)")
    seed.add_argument("--stock", default="20", metavar="N[,N...]",
                      help="units of each SKU per warehouse: one number for all, or one per warehouse like 20,5 "
                      "(0: that warehouse does not carry it) (default 20)")
    seed.add_argument("--warehouses", type=int, help="warehouses to stock (default 2, or as many as --stock lists)")
    seed.add_argument("--last-unit", type=int, default=5, metavar="N",
                      help="the N most popular SKUs get exactly one unit, in one warehouse (default 5)")
    seed.add_argument("--json", action="store_true")
    recs = sub.add_parser("recs", help="recommendations: build the batch from the shop's paid orders, or its status")
    recs.add_argument("action", choices=("build", "status"))
    recs.add_argument("--history", help="build from this file of order lines (Parquet or CSV: order_id, sku) "
                      "instead of the orders database; it replaces the counts (the seed's is "
                      ".lab/seed/order_history.parquet)")
    recs.add_argument("--full", action="store_true",
                      help="forget what earlier builds counted and reread every paid order")
    recs.add_argument("--top", type=int, default=50, help="partners kept per SKU (default 50)")
    recs.add_argument("--json", action="store_true")

    bench = sub.add_parser("bench", help="measured performance, as ratios to a baseline in the same run")
    bench.add_argument("name", choices=("reserve", "checkout", "sim", "idle", "soak"), help="reserve: hot-row "
                       "reservations per strategy through the service vs raw pgbench on the same SQL; checkout: the "
                       "highest open-model checkout rate with p99 < 500 ms vs the reservation alone; sim: the model's "
                       "simulated checkouts per wall second on a Prime-Day peak vs plain SimPy's M/M/1; idle: the idle "
                       "stack's CPU (percent of one core, per process) over 30 s, beside the whole machine's; soak: "
                       "one checkout rate for --minutes, the last minute's throughput vs the first and the pruned "
                       "tables' row counts (start the stack with LAB_RETENTION_S=60)")
    bench.add_argument("--clients", default="1,16,64,256,1024",
                       help="reserve: concurrent clients, comma separated (default 1,16,64,256,1024)")
    bench.add_argument("--rows", choices=("stocked", "sold-out", "both"), default="both",
                       help="reserve: a stocked row (every strategy), a sold-out row (guarded and batched, "
                       "short-circuit off and on), or both (default)")
    bench.add_argument("--seconds", type=float, help="per measurement (default 4; idle: 30)")
    bench.add_argument("--strategy", default="all", help="one strategy or all")
    bench.add_argument("--rates", default="20,40,80,120,160,200,240,320",
                       help="checkout: the ladder of arrival rates /s")
    bench.add_argument("--rate", type=float, default=56.0,
                       help="soak: checkouts per second (default 56: 70%% of the 80/s knee measured here)")
    bench.add_argument("--minutes", type=int, default=10, help="soak: how long (default 10)")
    bench.add_argument("--json", action="store_true")

    cal = sub.add_parser("calibrate", help="measure the real stack briefly and fit the model's step times",
                         description="Times Redis round trips, single-client reservations per strategy and a few "
                         "contended races and a short fault-free saga, fits the model's step times (sim/fit.py and "
                         "sim/saga/measured.py explain how) and writes "
                         "results/calibration.json, which `race --engine sim` and `validate` then use.")
    cal.add_argument("--out", help="where to write the calibration (default results/calibration.json)")
    cal.add_argument("--samples", type=int, default=40, help="single-client reservations per strategy")
    cal.add_argument("--saga-run", metavar="RUN_DIR",
                     help="fit the saga's hop/bus/label times from this `lastunit run` directory instead of "
                     "running a short fault-free saga now")
    cal.add_argument("--json", action="store_true", help="print the calibration with its explanation")
    cal.add_argument("--quiet", action="store_true", help="no progress on stderr")
    val = sub.add_parser("validate", help="sim vs real on a grid: side-by-side table, plots, relative errors",
                         description="Races every strategy at 1, 16 and 64 buyers on stock 1 and 64, on the real "
                         "stack and in the model (each --repeats times, round robin), and writes results/validation/ (table.csv, "
                         "table.json, plots) with each prediction's relative error.")
    val.add_argument("--quick", action="store_true", help="a small grid (guarded, pessimistic, batched; 1 and 8 buyers); "
                     "with --saga: rates 10,40 for 2 s")
    val.add_argument("--saga", action="store_true", help="instead of the race grid: the whole checkout saga "
                     "at a ladder of open-load rates on both engines (p50, p99, throughput; results/validation/saga/)")
    val.add_argument("--rates", help="with --saga: the arrival rates /s, comma separated (default 20,40,80,120)")
    val.add_argument("--seconds", type=float, help="with --saga: seconds of load per rate (default 4)")
    val.add_argument("--repeats", type=int, default=None,
                     help="runs per cell and engine; the table holds their medians (default 5)")
    val.add_argument("--holdout", type=int, metavar="N", help="held-out cells beside the grid, drawn at random "
                     "(strategy, buyers 2-256, stock, 1-4 warehouses) outside what calibrate and the grid ran "
                     "(default 4; --quick 2; 0: none)")
    val.add_argument("--holdout-seed", type=int, metavar="S", help="the held-out draw's seed (default: a new one "
                     "each run, printed), to run the same cells again")
    val.add_argument("--calibration", help="calibration file (default results/calibration.json if present)")
    val.add_argument("--json", action="store_true", help="print the table and error summary as JSON")
    val.add_argument("--quiet", action="store_true", help="no progress on stderr")

    sw = sub.add_parser("sweep", help="a grid of model cells x seeds in parallel: mean and 95%% CI per cell",
                        description="Runs the scenario in the model for every combination of the --grid values "
                        "(any scenario key, as --set spells it; load.rate=R is a constant open load at R/s), each "
                        "over --seeds seeds (the scenario's seed, +1, ...), on this machine's cores or on a Dask "
                        "cluster (--scheduler), and writes results/sweeps/<id>/ (table.csv, table.json, runs.csv, "
                        "sweep.png): per cell each metric's mean and <metric>_ci95, the half-width of its 95%% "
                        "t-interval over seeds.")
    sw.add_argument("scenario", help="scenario file or bundled name (last_unit_race, prime_day_burst, ...)")
    sw.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                    help="one axis of the grid, e.g. inventory.strategy=guarded,pessimistic (repeatable)")
    sw.add_argument("--seeds", type=int, default=5, help="replications per cell (default 5)")
    sw.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a scenario field in every cell")
    sw.add_argument("--model", choices=("race", "saga"),
                    help="race: the inventory's reservation (sim.engine); saga: the whole checkout (sim.saga_run); "
                    "default: saga for an open load, race otherwise")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="a Dask distributed scheduler (tcp://host:8786) "
                    "to run the replicas on instead of this machine's cores")
    sw.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    sw.add_argument("--json", action="store_true", help="print one row per cell: parameters, seeds, means, *_ci95")
    sw.add_argument("--quiet", action="store_true", help="no progress on stderr")

    return p


def _dispatch(args) -> int:
    from lastunit.commands import audit_cmd, bench, race, report, run, stack_cmds, swarm  # noqa: PLC0415

    table = {"up": stack_cmds.up, "down": stack_cmds.down, "status": stack_cmds.status, "race": race.main, "run": run.main,
             "audit": audit_cmd.main, "report": report.main, "bench": bench.main, "swarm": swarm.main}
    from lastunit.commands import recs, seed  # noqa: PLC0415
    table |= {"seed": seed.main, "recs": recs.main}
    from lastunit.commands import calibrate, serve, sweep, validate  # noqa: PLC0415
    table |= {"calibrate": calibrate.main, "validate": validate.main, "sweep": sweep.main, "serve": serve.main}
    return table[args.verb](args)


def main(argv: list[str] | None = None) -> int:
    args = build().parse_args(argv)
    import psycopg  # noqa: PLC0415
    import redis  # noqa: PLC0415

    from loadtests.race import SeedError  # noqa: PLC0415
    from reference_impl.infra.servers.postgres import PostgresError  # noqa: PLC0415
    from reference_impl.infra.servers.redis import RedisError  # noqa: PLC0415
    from reference_impl.stack import StackError  # noqa: PLC0415
    from scenarios.spec import ScenarioError  # noqa: PLC0415

    known = (ScenarioError, StackError, PostgresError, RedisError, FileNotFoundError, ValueError, TimeoutError,
             psycopg.OperationalError, redis.ConnectionError, SeedError)
    try:
        return _dispatch(args)
    except known as exc:
        print(f"lastunit {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"lastunit {args.verb}: error: out of memory: a bound (scenarios/spec.py) is too loose for this "
              f"machine; ask for less", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lastunit {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
