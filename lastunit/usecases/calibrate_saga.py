"""The saga's half of `lastunit calibrate`: its step times and the stack's CPU per checkout, both measured
on the running stack, added to the calibration as `Calibration.saga`.

- a short fault-free saga (`lastunit run`, about 30 checkouts through the orders service), whose saga log
  joined to its attempts gives the model's hop, bus-leg, label and client-edge times (`sim.saga.measured`),
  or the saga log of a run named by `--saga-run`;
- the CPU each process of the stack spends per checkout (`sim.saga.cpu`: /proc before and after another
  short fault-free saga at CPU_RATE, less the background measured in a quiet window), and the core count:
  the machine the saga model's services share (`sim.saga.machine`).
Why apart from calibrate.py: the inventory race and the saga are measured and fitted independently; only
the client's edge before the reservation needs the fitted inventory model (`add_to`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from lastunit.progress import Progress
from lastunit.usecases import run_saga
from reference_impl import stack
from scenarios.loader import load
from scenarios.spec import ScenarioError
from sim.calibration import Calibration
from sim.fit import predict
from sim.saga import cpu as proc
from sim.saga import measured

#: The saga run: a fault-free checkout stream (the shipping-failure shop without its fault), about 30 orders.
SAGA_SCENARIO = "shipping_failure"
SAGA_OVERRIDES = ["faults=[]", "load.duration_s=3", "load.shape=[{at_s=0, rate=10}, {at_s=3, rate=10}]"]
#: The CPU run: the same saga at this rate (checkouts/s) for CPU_SECONDS, with stock for all. Why not the run
#: above: at 10/s every checkout pays for its own wake-ups (each relay, consumer and pool wakes per event);
#: measured here, 56 ms of CPU per checkout at 10/s, 34 at 40/s, 38 at 80/s. The machine's limit matters
#: where it is busy, so its CPU is measured there; ~120 checkouts also beat /proc's 10 ms ticks per process.
CPU_RATE, CPU_SECONDS, IDLE_S = 40, 3, 2.0
CPU_OVERRIDES = ["faults=[]", f"load.duration_s={CPU_SECONDS}", "catalog.hot_skus=0",
                 "catalog.stock_per_warehouse=1000000",
                 f"load.shape=[{{at_s=0, rate={CPU_RATE}}}, {{at_s={CPU_SECONDS}, rate={CPU_RATE}}}]"]


def times(run_dir: str | None, progress: Progress) -> dict:
    """The saga's step times: from the named run, or from a short fault-free run made now."""
    if run_dir is None:
        progress.step(f"a fault-free saga ({SAGA_SCENARIO}, no faults, ~30 checkouts)")
        out, _ = run_saga(load(SAGA_SCENARIO, SAGA_OVERRIDES), Progress(enabled=False))
        run_dir = out["run_dir"]
    else:
        progress.step(f"the saga log of {run_dir}")
    if not (Path(run_dir) / measured.LOG_FILE).exists():
        raise ScenarioError(f"--saga-run: {run_dir} has no {measured.LOG_FILE} (a `lastunit run` directory has)")
    fitted = measured.fit_run(run_dir)
    progress.done(f"{fitted['orders']} straight orders, medians {fitted['median_ms']} ms")
    return fitted


def cpu_per_checkout(progress: Progress) -> dict:
    """CPU seconds per checkout of each process of the stack (`cpu_s`), the cores, and the background."""
    roots = stack.process_roots()
    progress.step(f"CPU per checkout: {IDLE_S:g} s idle, then {CPU_RATE}/s for {CPU_SECONDS} s "
                  f"({len(roots)} processes)")
    t0, idle0 = time.monotonic(), proc.snapshot(roots)
    time.sleep(IDLE_S)
    t1, before = time.monotonic(), proc.snapshot(roots)
    idle = proc.rates(idle0, before, t1 - t0)
    out, _ = run_saga(load(SAGA_SCENARIO, CPU_OVERRIDES), Progress(enabled=False))
    after = proc.snapshot(roots)
    per = proc.per_checkout(before, after, out["attempts"], time.monotonic() - t1, idle)
    progress.done(f"{sum(per.values()) * 1000:.1f} ms per checkout over {out['attempts']} checkouts: "
                  + ", ".join(f"{k} {v * 1000:.2f}" for k, v in per.items() if v) + " ms")
    return {"cpu_s": per, "cores": os.cpu_count() or 1, "idle_cpu": idle,
            "cpu_run": {"source": out["run_id"], "checkouts": out["attempts"], "rate_per_s": CPU_RATE}}


def measure(saga_run: str | None, progress: Progress) -> dict:
    """Both measurements: step times (from `saga_run` or a run made now) and CPU per checkout."""
    return times(saga_run, progress) | cpu_per_checkout(progress)


def add_to(cal: Calibration, saga: dict) -> Calibration:
    """`cal` with the saga's times; the client's edge before the reservation loses the fitted inventory
    model's own single-client reservation, which the saga model times itself."""
    strategy = load(SAGA_SCENARIO, SAGA_OVERRIDES).inventory.strategy.value
    saga = saga | measured.entry(saga, predict(cal, strategy, 1, 1)["p50_ms"] / 1000)
    return measured.with_saga_times(cal, saga)


def explain_lines(sg: dict) -> list[str]:
    """Where the saga's numbers in a calibration came from (none without a saga section)."""
    if not sg:
        return []
    lines = [f"measured (saga log of {sg.get('source')}, {sg.get('orders')} orders; medians "
             f"{sg.get('median_ms')} ms): hop {sg['hop_s'] * 1000:.2f} ms, bus leg {sg['bus_s'] * 1000:.2f} ms, "
             f"label {sg['carrier_s'] * 1000:.2f} ms, before the reservation {sg.get('entry_s', 0) * 1000:.2f} ms, "
             f"reply {sg.get('reply_s', 0) * 1000:.2f} ms"]
    if sg.get("cpu_s"):
        lines += [f"measured (/proc around {sg['cpu_run']['source']}, {sg['cpu_run']['checkouts']} checkouts): "
                  f"CPU ms per checkout on {sg['cores']} cores: " + ", ".join(
                      f"{k} {v * 1000:.2f}" for k, v in sg["cpu_s"].items() if v)]
    return lines
