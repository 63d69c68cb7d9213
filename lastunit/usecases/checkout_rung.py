"""`lastunit bench checkout`'s measurement of one rung: checkouts at one open-load rate through the orders
service, then the whole saga, and what the stack's processes spent on it.

Per rung: answers per second (the client's replies, from the first intended start to the last reply),
whole sagas per second (until every order is final: shipped or cancelled, from the orders' saga log),
p50/p99 from the intended start, CPU ms per checkout of each process (/proc before the load and after the
last order is final, less the idle background, the method `calibrate` uses: `sim.saga.cpu`), and the
audit of the rung's orders (a benchmark that breaks an invariant says so). The strategy is installed in
every service for the rung, as `lastunit run` does, so the checkouts reserve with it.
"""

from __future__ import annotations

import time

import numpy as np

from lastunit.aio import run_sync
from lastunit.bench.checkout import SKUS, STOCK, scenario_at
from lastunit.usecases.saga import installed
from loadtests.checkouts import run_load
from loadtests.race import seed
from reference_impl import stack
from reference_impl.audit.saga import audit_saga
from reference_impl.orders import progress as orders_progress
from sim.saga import cpu as proc

#: How long a rung waits for its orders to become final after the load (a rung past the knee drains slowly).
SETTLE_S = 60.0
#: How often it looks (one indexed query on the orders database).
SETTLE_POLL_S = 0.2
#: The quiet window before the first rung that measures the idle background subtracted from every rung.
IDLE_S = 3.0
#: An unmeasured rung first: a stack idle for 5 minutes has closed its pools' spare connections (asyncpg's
#: inactive lifetime) and lost their prepared statements, and the first strategy's first rung paid for them
#: (pessimistic at 80/s: p99 528 ms cold, 117 ms warm, the same day).
WARMUP_S = 3.0


def idle_rates() -> dict[str, float]:
    """CPU seconds per second of each process while nothing runs (subtracted from each rung's CPU)."""
    roots = stack.process_roots()
    t0, before = time.monotonic(), proc.snapshot(roots)
    time.sleep(IDLE_S)
    return proc.rates(before, proc.snapshot(roots), time.monotonic() - t0)


def by_service(per: dict[str, float]) -> dict[str, float]:
    """Milliseconds per checkout per service: a service's processes (`orders#2`, LAB_WORKERS) summed."""
    out: dict[str, float] = {}
    for name, s in per.items():
        out[name.split("#")[0]] = out.get(name.split("#")[0], 0.0) + s * 1000
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def settle(server: str, keys: list[str]) -> tuple[int, float | None]:
    """Wait until every order of the rung is final (or SETTLE_S): (still open, when the last step was logged)."""
    deadline = time.monotonic() + SETTLE_S
    while (left := orders_progress.open_orders(server, keys)) and time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_S)
    return left, orders_progress.last_step_at(server, keys)


def rung(strategy: str, rate: float, seconds: float, tag: str, idle: dict[str, float]) -> dict:
    sc = scenario_at(rate, seconds, strategy)
    run_id = f"{tag}-{strategy}-{rate:g}"
    skus = [f"{run_id}-{i}" for i in range(SKUS)]
    for sku in skus:
        run_sync(seed(stack.service_url("inventory"), sku, STOCK, 1))
    server, roots = stack.server_url("postgres"), stack.process_roots()
    with installed(sc, run_id):
        t0, before = time.monotonic(), proc.snapshot(roots)
        rows = run_sync(run_load(sc, stack.service_url("orders"), run_id, skus))
        open_left, last_final = settle(server, [r["attempt_id"] for r in rows])
        after, wall = proc.snapshot(roots), time.monotonic() - t0
    lat = [(r["t_end"] - r["t_intended"]) * 1000 for r in rows]
    first, last_reply = min(r["t_intended"] for r in rows), max(r["t_end"] for r in rows)
    span = max(last_final or 0.0, last_reply) - first
    cpu = by_service(proc.per_checkout(before, after, len(rows), wall, idle))
    audit = audit_saga(server, run_id + "-")
    return {"rate": rate, "attempts": len(rows), "won": sum(r["outcome"] == "won" for r in rows),
            "answers_s": round(len(rows) / (last_reply - first), 1) if last_reply > first else None,
            "sagas_s": round(len(rows) / span, 1) if span > 0 and not open_left else None,
            "unfinished": open_left, "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "cpu_ms_per_checkout": round(sum(cpu.values()), 2), "cpu_ms_by_process": cpu,
            "audit_ok": audit["ok"], "breaches": [b["invariant"] for b in audit["breaches"]]}
