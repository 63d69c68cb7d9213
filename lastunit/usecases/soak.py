"""`lastunit bench soak`'s run: the stack's retention checked, one checkout rate held for minutes through the
orders service while `lastunit.bench.soak.Counter` counts the pruned tables, then settle and audit. The
measurement's pieces (what is counted, per-minute throughput, the verdicts) are in `lastunit.bench.soak`.
"""

from __future__ import annotations

import time

import numpy as np
import redis

from lastunit.aio import run_sync
from lastunit.bench.checkout import SKUS, STOCK, scenario_at
from lastunit.bench.soak import SAMPLE_S, Counter, per_minute, verdict
from lastunit.usecases.checkout_rung import settle
from lastunit.usecases.saga import installed
from loadtests.checkouts import run_load
from loadtests.race import seed
from reference_impl import stack
from reference_impl.audit.saga import audit_saga
from reference_impl.infra.supervised import running_config
from scenarios import results
from scenarios.policy import retention_s


def retention_of_stack() -> float:
    """The retention the running services were started with (`LAB_RETENTION_S` at `lastunit up`)."""
    cfg = running_config(stack.lab_home()) or {}
    env = cfg.get("programs", {}).get("orders", {}).get("env", {})
    return retention_s(env.get("LAB_RETENTION_S"))


def soak(rate: float, minutes: int, strategy: str, progress) -> dict:
    """Hold `rate` checkouts/s for `minutes` through the orders service; count, settle, audit."""
    retention = retention_of_stack()
    if retention > minutes * 60 / 3:
        raise ValueError(f"the stack keeps events for {retention:g} s, too long to see pruning in a {minutes}-minute "
                         f"soak: lastunit down && LAB_RETENTION_S=60 lastunit up")
    sc = scenario_at(rate, minutes * 60.0, strategy)
    run_id = results.new_run_id("soak")
    skus = [f"{run_id}-{i}" for i in range(SKUS)]
    for sku in skus:
        run_sync(seed(stack.service_url("inventory"), sku, STOCK, 1))
    server = stack.server_url("postgres")
    r = redis.from_url(stack.server_url("redis"))
    progress.step(f"{rate:g} checkouts/s for {minutes} min ({strategy}), counting every {SAMPLE_S:g} s")
    with installed(sc, run_id):
        t0 = time.time()
        counter = Counter(server, r, t0).start()
        try:
            rows = run_sync(run_load(sc, stack.service_url("orders"), run_id, skus))
            open_left, _ = settle(server, [x["attempt_id"] for x in rows])
        finally:
            samples = counter.stop()
    r.close()
    first = min(x["t_intended"] for x in rows)
    minutes_rows = per_minute(rows, first, minutes)
    audit = audit_saga(server, run_id + "-")
    lat = [(x["t_end"] - x["t_intended"]) * 1000 for x in rows]
    out = {"name": "soak", "strategy": strategy, "clients": "open", "ops_s": minutes_rows[-1]["answers_s"],
           "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
           "baseline": "the first minute of the same run", "baseline_ops_s": minutes_rows[0]["answers_s"],
           "rate": rate, "minutes": minutes, "retention_s": retention,
           "attempts": len(rows), "won": sum(x["outcome"] == "won" for x in rows), "unfinished": open_left,
           "audit_ok": bool(audit["ok"]), "per_minute": minutes_rows, "samples": samples}
    out |= verdict(minutes_rows, samples, retention)
    out["ratio"] = out["throughput_ratio"]
    progress.done(f"last minute / first: {out['throughput_ratio']}, bounded tables flat: {out['bounded_flat']}, "
                  f"audit {'clean' if out['audit_ok'] else 'BROKEN'}")
    return out
