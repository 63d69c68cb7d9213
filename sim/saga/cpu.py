"""CPU seconds per checkout of each process of the real stack, from two snapshots of /proc around a run.

Covers: utime + stime of a process and of its live descendants, plus cutime + cstime (what its children
    that exited and were waited for used: PostgreSQL's backends that closed during the run), per named root
    process (each service's uvicorn, the postmaster, Redis); the difference of two snapshots, less the
    background (the relays' and workers' polling, measured in a quiet window of the same length), over the
    checkouts the run made. Kept in the calibration file as `Calibration.saga["cpu_s"]` with the core count
    (`saga["cores"]`), read by `sim.saga.machine`.
Why /proc and not a profiler: it costs the services nothing, needs no change to them, and counts what the
    machine's cores really spent (asyncpg, uvicorn, the kernel's side of the sockets), not what a profiler
    attributes to Python code.

The parsing and the arithmetic are pure (`parse_stat`, `tree_seconds`, `per_checkout`); `read_stats` and
`snapshot` read /proc; which processes to read is the stack's to say (`reference_impl.stack.process_roots`).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Clock ticks per second of /proc's times (100 on Linux): a snapshot's resolution is 10 ms per process,
#: so a measurement needs some hundreds of checkouts' worth of CPU to be good to a few %.
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_stat(text: str) -> tuple[int, int]:
    """(ppid, ticks) from the text of /proc/<pid>/stat: utime + stime + cutime + cstime.

    The second field (the command) may hold spaces and parentheses: fields are counted after its last ')'."""
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17
    return int(rest[1]), sum(int(x) for x in rest[11:15])


def tree_seconds(stats: dict[int, tuple[int, int]], root: int, tick: int = CLK_TCK) -> float:
    """CPU seconds of `root` and every live descendant in `stats` (pid -> (ppid, ticks)); 0 if it is gone.

    Each exited child's time is in its parent's cutime once it was waited for, so counting every live process
    of the tree (own and waited-for children's ticks) counts each tick once."""
    if root not in stats:
        return 0.0
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total / tick


def read_stats(proc: Path = Path("/proc")) -> dict[int, tuple[int, int]]:
    """pid -> (ppid, ticks) of every process now (those that exit while being read are skipped)."""
    out = {}
    for d in proc.iterdir():
        if d.name.isdigit():
            try:
                out[int(d.name)] = parse_stat((d / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
    return out


def snapshot(roots: dict[str, int], proc: Path = Path("/proc")) -> dict[str, float]:
    """CPU seconds so far of each named process tree."""
    stats = read_stats(proc)
    return {name: tree_seconds(stats, pid) for name, pid in roots.items()}


def per_checkout(before: dict[str, float], after: dict[str, float], checkouts: int, wall_s: float = 0.0,
                 idle_per_s: dict[str, float] | None = None) -> dict[str, float]:
    """CPU seconds per checkout of each process named in both snapshots: (after - before - its background
    over wall_s) / checkouts, never below 0. A process that restarted in between (its CPU went down) is
    left out rather than guessed."""
    if checkouts <= 0:
        raise ValueError(f"per_checkout: expected checkouts > 0, got {checkouts}")
    idle = idle_per_s or {}
    out = {}
    for name in before.keys() & after.keys():
        used = after[name] - before[name]
        if used < 0:
            continue
        out[name] = round(max(0.0, used - idle.get(name, 0.0) * wall_s) / checkouts, 6)
    return dict(sorted(out.items()))


def rates(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict[str, float]:
    """CPU seconds per wall second of each process between two snapshots (its background when idle)."""
    return {k: round(max(0.0, after[k] - before[k]) / wall_s, 6) for k in sorted(before.keys() & after.keys())}


def own_seconds(stats: dict[int, tuple[int, int]], pid: int, tick: int = CLK_TCK) -> float:
    """CPU seconds of `pid` alone (and its waited-for children), not its live descendants: the supervisor,
    whose tree is every service."""
    return stats[pid][1] / tick if pid in stats else 0.0


def parse_machine(text: str, tick: int = CLK_TCK) -> float:
    """Busy CPU seconds of the whole machine, summed over its cores, from the text of /proc/stat: every
    state of the `cpu` line except idle and iowait."""
    fields = [int(x) for x in text.splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / tick


def machine_seconds(proc: Path = Path("/proc")) -> float:
    return parse_machine((proc / "stat").read_text())
