"""A scenario's checkouts through the whole saga, faults on, settled and audited: on the real stack or the model.

Why a use case: `run`, `swarm --via gateway`, `validate --saga`, `calibrate`, the notebooks and the tests all
drive the saga this way; the verbs only parse and print.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from lastunit.aio import run_sync
from lastunit.progress import Progress
from lastunit.usecases import nemesis as nemesis_schedule
from lastunit.usecases.record import combined_audit, exit_code, record_run
from loadtests.checkouts import run_load
from loadtests.race import seed
from reference_impl import nemesis as nemesis_actions
from reference_impl import stack
from reference_impl.audit.inventory import audit_inventory
from reference_impl.audit.saga import audit_saga
from reference_impl.infra.client import ServiceClient, Unknown
from reference_impl.infra.run_config import Lease, fired
from reference_impl.orders.saga_log import write_saga_log
from scenarios import results
from scenarios.nemesis import schedule
from scenarios.spec import Scenario, ScenarioError

#: How often the settle phase looks whether every order has reached a final state.
SETTLE_POLL_S = 0.5
SUMMARY_COLUMNS = ("engine", "strategy", "attempts", "won", "out_of_stock", "declined", "failed", "unknown",
                   "p50_ms", "p99_ms", "oversold_units", "double_charges", "money_conserved", "stranded")


#: The provider's knobs when no scenario runs: it behaves.
PSP_CALM = {"decline_rate": 0.0, "webhook_delay_ms": 0, "webhook_duplicate": 0.0, "webhook_reorder": 0.0,
            "webhook_drop": 0.0, "webhook_crash": 0.0}
#: The provider may be restarting (a crash fault): how long to keep trying to reach it.
PSP_REACH_S = 20.0
#: The driver's own Redis calls (the lease, fault counts) ride out a Redis restart: about 20 s of retries.
REDIS_RETRY = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=15)


def psp_config(sc: Scenario, faults: bool = True) -> dict:
    """The provider's knobs for this scenario: decline rate, webhook settings, and (while the load runs)
    the `psp.webhook` faults, which are the provider's own knobs."""
    cfg = {"decline_rate": sc.payment.decline_rate, "webhook_delay_ms": int(sc.webhooks.delay_ms),
           "webhook_duplicate": sc.webhooks.duplicate, "webhook_reorder": sc.webhooks.reorder,
           "webhook_drop": 0.0, "webhook_crash": 0.0, "seed": sc.seed}
    for f in sc.faults if faults else []:
        if f.point.value == "psp.webhook":
            key = {"duplicate": "webhook_duplicate", "reorder": "webhook_reorder", "error": "webhook_drop",
                   "delay": "webhook_delay_ms", "crash": "webhook_crash"}.get(f.action.value)
            if key is None:
                raise ScenarioError(f"faults: psp.webhook {f.action.value} is not supported by the provider fake")
            cfg[key] = int(f.delay_ms) if key == "webhook_delay_ms" else f.probability
    return cfg


async def _seed(sc: Scenario, run_id: str) -> list[str]:
    skus = [f"{run_id}-hot-{i}" for i in range(sc.catalog.hot_skus)]
    skus += [f"{run_id}-sku-{i}" for i in range(sc.catalog.skus - sc.catalog.hot_skus)]
    base = stack.service_url("inventory")
    for i, sku in enumerate(skus):
        units = sc.catalog.hot_stock if i < sc.catalog.hot_skus else sc.catalog.stock_per_warehouse
        await seed(base, sku, units * (1 if i < sc.catalog.hot_skus else sc.catalog.warehouses),
                   sc.catalog.warehouses)
    return skus


async def _configure_psp(knobs: dict) -> None:
    psp = ServiceClient("psp", stack.service_url("psp"))
    deadline = time.monotonic() + PSP_REACH_S
    try:
        while True:
            try:
                status, body = await psp.call("POST", "/admin/config", json=knobs)
                break
            except Unknown:
                if time.monotonic() > deadline:
                    raise ScenarioError("the payment provider did not answer; see .lab/logs/psp.log") from None
                await asyncio.sleep(0.3)
    finally:
        await psp.close()
    if status != 200:
        raise ScenarioError(f"the payment provider refused the scenario's settings: {body.get('detail')}")


def settle(sc: Scenario, run_id: str, progress: Progress) -> dict:
    """Wait until every order of the run is final (or settle_s passes); return the saga audit."""
    deadline = time.monotonic() + sc.settle_s
    progress.step(f"settling (up to {sc.settle_s:.0f}s)")
    while True:
        audit = audit_saga(stack.server_url("postgres"), run_id + "-")
        if (not audit["stranded"] and audit["money_conserved"]) or time.monotonic() > deadline:
            progress.done(f"{audit['by_status']}")
            return audit
        time.sleep(SETTLE_POLL_S)


def run_config(sc: Scenario) -> dict:
    """What every service reads from Redis while this scenario runs: its faults and knobs."""
    return {"faults": [{"point": f.point.value, "action": f.action.value, "probability": f.probability,
                        "delay_ms": f.delay_ms} for f in sc.faults],
            "payment": {"idempotency": sc.payment.idempotency},
            "inventory": {"strategy": sc.inventory.strategy.value, "naive_window_ms": sc.inventory.naive_window_ms,
                          "reservation_ttl_s": sc.inventory.reservation_ttl_s,
                          "lock_order": sc.inventory.lock_order.value}}


class Installed:
    def __init__(self, r, lease: Lease, sc: Scenario):
        self.r, self.lease, self.sc = r, lease, sc

    def fired(self) -> dict[str, int]:
        return fired(self.r)

    def faults_off(self) -> None:
        """Knobs stay (the saga still needs them), faults stop: the stack settles undisturbed."""
        self.lease.change({**self.lease.run, "faults": []})
        run_sync(_configure_psp(psp_config(self.sc, faults=False)))


@contextmanager
def installed(sc: Scenario, run_id: str = "manual"):
    """The scenario's faults and knobs in every service (and the provider's knobs) for the block's length,
    owned by `run_id` under a lease the block renews; cleared after, whatever happens, so the next run
    starts clean (and if this process dies, the lease runs out by itself)."""
    r = redis.from_url(stack.server_url("redis"), retry=REDIS_RETRY,
                       retry_on_error=[redis.ConnectionError, redis.TimeoutError])
    run_sync(_configure_psp(psp_config(sc)))
    try:
        with Lease(r, run_config(sc), run_id) as lease:
            yield Installed(r, lease, sc)
    finally:
        r.close()
        run_sync(_configure_psp(PSP_CALM))


def run_saga(sc: Scenario, progress: Progress) -> tuple[dict, int]:
    """The real stack: seed, install the scenario, drive its crowd, settle, audit, record."""
    if sc.load.model == "closed":
        raise ScenarioError("load.model: `run` drives race and open models; closed users come with `swarm`")
    stack.ensure_up()
    run_id = results.new_run_id("run", sc.name)
    skus = run_sync(_seed(sc, run_id))
    events = schedule(sc.nemesis, sc.load.duration_s)
    with installed(sc, run_id) as run:
        progress.step(f"{sc.name}: checkouts ({sc.load.model} load, {len(sc.faults)} fault(s)"
                      + (f", {len(events)} nemesis event(s))" if events else ")"))
        t0, over = time.time(), {}

        def load_over() -> None:
            """Every client has its answers: the nemesis stops (waiting until what it killed serves again,
            the provider among them), then faults off while the pending clients poll their orders."""
            over.update(t=time.time())
            nemesis.finish()
            over.update(fired=run.fired())
            run.faults_off()

        nemesis = nemesis_schedule.Scheduler(events, nemesis_actions.apply).start()
        rows = run_sync(run_load(sc, stack.service_url("orders"), run_id, skus, progress.count, load_over))
        wall = over.get("t", time.time()) - t0
        applied = nemesis.finish()
        progress.done(f"{len(rows)} attempts in {wall:.1f}s")
        faults_fired = over.get("fired") or run.fired()
        run.faults_off()
        saga = settle(sc, run_id, progress)
    audit = combined_audit(saga, audit_inventory(stack.server_url("postgres"), skus), faults_fired)
    summary, path = record_run(sc, run_id, "real", rows, wall, audit, extra={"nemesis": applied},
                               plot_title=f"{sc.name}: checkout latency by outcome")
    if applied:
        nemesis_schedule.frame(applied).to_csv(path / "nemesis.csv", index=False)
    write_saga_log(path, stack.server_url("postgres"), run_id)
    return summary | {"audit": audit, "run_dir": str(path)}, exit_code(audit)


def run_saga_sim(sc: Scenario, progress: Progress) -> tuple[dict, int]:
    """The model, as `run_saga` does the real stack: the same crowd, checks and files in the run directory."""
    from sim.saga import ENGINE  # noqa: PLC0415 - the model loads only when asked for
    from sim.saga_run import simulate_saga  # noqa: PLC0415

    if sc.load.model == "closed":
        raise ScenarioError("load.model: `run` drives race and open models; closed users come with `swarm`")
    run_id = results.new_run_id("run", f"{sc.name}-sim")
    progress.step(f"{sc.name}: checkouts in the model ({sc.load.model} load, {len(sc.faults)} fault(s))")
    run = simulate_saga(sc, run_id)
    progress.done(f"{len(run.rows)} attempts, {run.saga['by_status']}")
    audit = combined_audit(run.saga, run.inventory, run.faults_fired)
    summary, path = record_run(sc, run_id, ENGINE, run.rows, run.wall_s, audit, extra={"model": run.stats},
                               plot_title=f"{sc.name} (model): checkout latency by outcome")
    return summary | {"audit": audit, "run_dir": str(path)}, exit_code(audit)
