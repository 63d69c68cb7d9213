"""`lastunit bench idle`: what the running stack costs while nobody uses it, from /proc.

Every process of the stack (each service, the postmaster's tree, Redis, the supervisor) is read before and
after a quiet window (`sim.saga.cpu`, the method `calibrate` uses), with the whole machine's busy time over
the same window beside it: on a shared box that says how busy the rest was while we measured. The target
the README states is 2% of one core over 30 s.
"""

from __future__ import annotations

import time

from reference_impl import stack
from sim.saga import cpu

#: The window the README's figure uses: long enough that /proc's 10 ms ticks are ~0.03% of a core.
SECONDS = 30.0
#: After `up` the services finish starting (imports, pools, first rounds) before the window opens.
SETTLE_S = 2.0


def _read(roots: dict[str, int], supervisor: int | None) -> tuple[dict[str, float], float]:
    stats = cpu.read_stats()
    out = {name: cpu.tree_seconds(stats, pid) for name, pid in roots.items()}
    if supervisor:
        out["supervisor"] = cpu.own_seconds(stats, supervisor)
    return out, cpu.machine_seconds()


def measure(seconds: float, progress) -> dict:
    """The idle stack's CPU over `seconds`: percent of one core, in total and per process."""
    stack.ensure_up()
    time.sleep(SETTLE_S)
    roots = stack.process_roots()
    supervisor = stack.load_state().get("services", {}).get("supervisor_pid")
    progress.step(f"idle stack, {seconds:g} s ({len(roots) + bool(supervisor)} processes)")
    (before, m0), t0 = _read(roots, supervisor), time.monotonic()
    time.sleep(seconds)
    (after, m1), wall = _read(roots, supervisor), time.monotonic() - t0
    per = {k: round(v * 100, 3) for k, v in sorted(cpu.rates(before, after, wall).items(), key=lambda x: -x[1])}
    total = round(sum(per.values()), 3)
    machine = round((m1 - m0) / wall * 100, 1)
    progress.done(f"{total:.2f}% of one core (the whole machine: {machine:.0f}%)")
    return {"name": "idle", "strategy": None, "clients": 0, "ops_s": None, "p50_ms": None, "p99_ms": None,
            "baseline": "the whole machine over the same window", "baseline_ops_s": None,
            "ratio": round(total / machine, 4) if machine > 0 else None, "seconds": round(wall, 1),
            "cpu_pct_of_one_core": total, "machine_cpu_pct_of_one_core": machine, "cpu_pct_by_process": per}
