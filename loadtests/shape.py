"""Load shapes as stage tables: `tick(run_time)` gives (users, spawn_rate), or None when the run is over.

Why a table and no locust import: Locust's `LoadTestShape` only has to call `tick()`, and the table is
tested in plain pytest (importing locust monkey-patches the process with gevent).

In the open model the *arrivals* follow the scenario's rate shape (see arrivals.py); users are the pool
that starts them. The pool grows ahead of each rise of the rate and never shrinks: Locust stops a user by
killing its greenlet, and a user killed mid-checkout would leave a reservation with no attempt record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scenarios.arrivals import rate_at

#: Users are spawned this long before the run's time zero is reached... at the least: connecting a pool
#: and importing a user's protocol client takes a moment, and a start missed by that is not the server's.
MIN_LEAD_S = 1.5
#: The pool grows this long before the rate rises to need it.
GROW_AHEAD_S = 2.0
#: After the last intended start: time for the answers in flight (a request times out at 60 s, but the
#: run ends as soon as every worker reports its share done; this is only the cap).
DRAIN_S = 30.0
#: A race's buyers all answer within this long after the release, or the run gives up on the stragglers.
RACE_MAX_S = 60.0


@dataclass(frozen=True)
class Step:
    until_s: float        # run time (s since the shape started) this step lasts until
    users: int
    spawn_rate: float


class StageTable:
    """Steps in time order; `tick` is the step covering `run_time`, None after the last."""

    def __init__(self, steps: list[Step]):
        if not steps or any(b.until_s < a.until_s for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("a stage table needs steps in time order")
        self.steps = steps

    @property
    def end_s(self) -> float:
        return self.steps[-1].until_s

    def tick(self, run_time: float) -> tuple[int, float] | None:
        for st in self.steps:
            if run_time < st.until_s:
                return st.users, st.spawn_rate
        return None


def lead_s(users: int, spawn_rate: float) -> float:
    """From the shape's start to the run's time zero: long enough to spawn the first users."""
    return MIN_LEAD_S + users / max(spawn_rate, 1e-9)


def open_pool(shape: list[tuple[float, float]], duration_s: float, users: int, spawn_rate: float,
              lead: float, drain_s: float = DRAIN_S, ahead_s: float = GROW_AHEAD_S) -> StageTable:
    """A pool of at most `users`, scaled to the running peak of the rate, ready `ahead_s` before it is needed.

    Run time `lead + t` is scenario time `t`. Each segment between the shape's knots gets the pool its
    highest rate needs (never less than an earlier segment's), requested `ahead_s` before the segment starts.
    """
    cuts = sorted({0.0, duration_s, *(a for a, _ in shape if 0.0 < a < duration_s)})
    peak = float(rate_at(shape, cuts).max()) if shape else 0.0
    steps, best = [], 0
    for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        seg = float(rate_at(shape, [a, b]).max())
        best = max(best, math.ceil(users * seg / peak) if peak > 0 else 1, 1)
        nxt = cuts[i + 2] if i + 2 < len(cuts) else None
        until = lead + b - ahead_s if nxt is not None else lead + duration_s + drain_s
        if steps and steps[-1].users == best:
            steps[-1] = Step(max(until, steps[-1].until_s), best, spawn_rate)
        else:
            steps.append(Step(max(until, steps[-1].until_s if steps else 0.0), best, spawn_rate))
    return StageTable(steps)


def hold(users: int, spawn_rate: float, until_s: float) -> StageTable:
    """Race and closed model: all users at once, kept until `until_s`."""
    return StageTable([Step(until_s, users, spawn_rate)])


def stages_for(model: str, shape: list[tuple[float, float]], duration_s: float, users: int,
               spawn_rate: float) -> tuple[StageTable, float]:
    """(the stage table, the lead to the run's time zero) for a plan's model."""
    lead = lead_s(users, spawn_rate) if model != "open" else lead_s(
        open_pool(shape, duration_s, users, spawn_rate, 0.0).steps[0].users, spawn_rate)
    if model == "race":
        return hold(users, spawn_rate, lead + RACE_MAX_S), lead
    if model == "closed":
        return hold(users, spawn_rate, lead + duration_s), lead
    return open_pool(shape, duration_s, users, spawn_rate, lead), lead
