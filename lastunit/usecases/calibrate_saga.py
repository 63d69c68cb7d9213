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
from lastunit.usecases.checkout_rung import rung
from reference_impl import stack
from scenarios.loader import load
from scenarios.results import new_run_id
from scenarios.spec import ScenarioError
from sim.calibration import Calibration
from sim.fit import predict
from sim.saga import cpu as proc
from sim.saga import measured

#: The saga run: a fault-free checkout stream (the shipping-failure shop without its fault), about 30 orders.
SAGA_SCENARIO = "shipping_failure"
SAGA_OVERRIDES = ["faults=[]", "load.duration_s=3", "load.shape=[{at_s=0, rate=10}, {at_s=3, rate=10}]"]
#: The CPU run: one `bench checkout` rung (its saga, its /proc window from the first checkout to the last
#: final order, before its audit) at this rate (checkouts/s) for CPU_SECONDS, with stock for all. Why not
#: the run above: at 10/s every checkout pays for its own wake-ups (each relay, consumer and pool wakes per
#: event), and the cost per checkout keeps falling as more share a round: measured 2026-11-30, 27 ms at
#: 40/s, 17.4 at 80, 15.7 at 120. The machine's limit matters where it is busy, near the knee, so its CPU
#: is measured there (at 40/s the model's cores filled at ~75/s where the stack's knee was 120). Why a rung
#: and not `lastunit run`: run's audit, seeding and settle polls fell inside the window (PostgreSQL 12.4 ms
#: per checkout against the rung's 7.8 at the same rate).
CPU_RATE, CPU_SECONDS, IDLE_S = 80, 4, 2.0
CPU_STRATEGY = "guarded"


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
    idle = proc.rates(idle0, proc.snapshot(roots), time.monotonic() - t0)
    tag = new_run_id("calibrate-cpu")
    step = rung(CPU_STRATEGY, CPU_RATE, CPU_SECONDS, tag, idle)
    per = {k: round(v / 1000, 6) for k, v in sorted(step["cpu_ms_by_process"].items())}
    progress.done(f"{sum(per.values()) * 1000:.1f} ms per checkout over {step['attempts']} checkouts: "
                  + ", ".join(f"{k} {v * 1000:.2f}" for k, v in per.items() if v) + " ms")
    return {"cpu_s": per, "cores": os.cpu_count() or 1, "idle_cpu": idle,
            "cpu_run": {"source": f"{tag}-{CPU_STRATEGY}-{CPU_RATE:g}", "checkouts": step["attempts"],
                        "rate_per_s": CPU_RATE}}


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
