"""The nemesis: which of the lab's processes a scenario may kill while the load runs, and when.

Names and the schedule only; the real actions are the stack's (reference_impl/nemesis.py), the SimPy model
lists them as not modelled. A fault point (scenarios' `[[faults]]`) breaks one request at one place in the
saga; the nemesis breaks a whole process at an instant, whatever it is doing:

    kill     SIGKILL: a service (its supervisor restarts it), Redis (restarted on the same port), the
             supervisor (its children die with it; `lastunit up` plays init and starts it again)
    restart  PostgreSQL only: `pg_ctl restart -m immediate`, a crash and recovery of the cluster
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class NemesisAction(StrEnum):
    KILL = "kill"
    RESTART = "restart"


#: The lab's service processes (reference_impl/services.py runs exactly these).
SERVICE_NAMES = ("inventory", "catalog", "catalog_relay", "cart", "recommendation", "gateway", "psp", "payment",
                 "orders", "shipping", "notification")
SERVERS = ("supervisor", "redis", "postgres")
TARGETS = SERVICE_NAMES + SERVERS
#: Nothing supervises the postmaster: a kill would end the run; its crash is an immediate restart.
DEFAULT_ACTION = {"postgres": NemesisAction.RESTART}


def default_action(target: str) -> NemesisAction:
    return DEFAULT_ACTION.get(target, NemesisAction.KILL)


def applies(target: str, action: NemesisAction) -> bool:
    return action is default_action(target)


@dataclass(frozen=True)
class Event:
    at_s: float          # from the start of the load
    target: str
    action: NemesisAction


def schedule(entries, duration_s: float) -> list[Event]:
    """The scenario's nemesis entries as events in time order: fixed ones as written, each `random` entry
    drawn from its own seed (count events at uniform times within the load, targets uniform over its
    `targets`), so a scenario kills the same processes at the same instants every run."""
    events = []
    for e in entries:
        if e.random is None:
            events.append(Event(float(e.at_s), e.target, e.action or default_action(e.target)))
            continue
        rng = np.random.default_rng(e.random.seed)
        pool = e.random.targets or list(TARGETS)
        for at, i in zip(rng.uniform(0, duration_s, e.random.count), rng.integers(0, len(pool), e.random.count),
                         strict=True):
            events.append(Event(round(float(at), 3), pool[int(i)], default_action(pool[int(i)])))
    return sorted(events, key=lambda ev: (ev.at_s, ev.target))
