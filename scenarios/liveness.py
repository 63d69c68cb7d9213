"""Liveness of the sold-out answer, as a pure function: no buyer was refused while a unit stood available
for longer than the bound (policy.SOLD_OUT_STALENESS_S). Shared by the real auditor and the model.

Safety (no oversell) is easy to get by refusing everyone; a short-circuit that remembers "sold out" and never
hears units come back is safe and wrong. This check is what catches it.

Availability of each SKU in each warehouse is rebuilt from events, not from the counters: +qty at every
receipt, -qty when a reservation is made, +qty when one is released or expires (a sale moves nothing: the
unit left `available` when it was reserved). A refusal is a breach when enough units were available without
a break from some instant `since` until the answer arrived (`t_end`), and the request was sent (`t_start`,
so the decision came no earlier) more than the bound after `since`. Conservative both ways: a unit taken by
someone else before the answer arrived excuses the refusal, so a breach is never a false alarm.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

from scenarios.invariants import MAX_WITNESSES


@dataclass(frozen=True)
class Refusal:
    attempt_id: str
    sku: str
    warehouse: str | None      # None: the buyer would have taken any warehouse of the SKU
    qty: int
    t_start: float             # epoch seconds: request sent
    t_end: float               # epoch seconds: answer received


class Timeline:
    """Available units of one row as a step function: value[i] holds from times[i] until times[i+1]."""

    def __init__(self, events: list[tuple[float, int]]):
        self.times, self.values, level = [], [], 0
        for t, delta in sorted(events):
            level += delta
            if self.times and self.times[-1] == t:
                self.values[-1] = level
            else:
                self.times.append(t)
                self.values.append(level)
        self._runs: dict[int, list[float]] = {}

    def _run_starts(self, qty: int) -> list[float]:
        """For each step, when the unbroken stretch of >= qty units it belongs to began (inf if < qty)."""
        if qty not in self._runs:
            starts, since = [], float("inf")
            for t, v in zip(self.times, self.values, strict=True):
                since = (since if since != float("inf") else t) if v >= qty else float("inf")
                starts.append(since)
            self._runs[qty] = starts
        return self._runs[qty]

    def available_since(self, qty: int, until: float) -> float | None:
        """The instant from which >= qty units stood available without a break up to `until`, or None."""
        i = bisect.bisect_right(self.times, until) - 1
        if i < 0:
            return None
        since = self._run_starts(qty)[i]
        return None if since == float("inf") else since


def timelines(events: dict[tuple[str, str], list[tuple[float, int]]]) -> dict[tuple[str, str], Timeline]:
    return {row: Timeline(ev) for row, ev in events.items()}


def check_liveness(refusals: list[Refusal], rows: dict[tuple[str, str], Timeline], bound_s: float) -> dict:
    """Refusals made while units stood available longer than `bound_s`, per row, with witnesses."""
    by_sku: dict[str, list[str]] = defaultdict(list)
    for sku, wh in rows:
        by_sku[sku].append(wh)
    late: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for r in refusals:
        for wh in ([r.warehouse] if r.warehouse is not None else by_sku.get(r.sku, [])):
            line = rows.get((r.sku, wh))
            since = line.available_since(r.qty, r.t_end) if line is not None else None
            if since is not None and r.t_start - since > bound_s:
                late[(r.sku, wh)].append((r.t_start - since, r.attempt_id))
                break
    breaches = [{"invariant": "refused_while_available", "sku": sku, "warehouse": wh, "control": False,
                 "refusals": len(found),
                 "detail": f"{len(found)} buyer(s) refused while units stood available, up to "
                           f"{max(found)[0]:.3f}s (bound {bound_s:.3f}s)",
                 "witnesses": [a for _, a in sorted(found, reverse=True)[:MAX_WITNESSES]]}
                for (sku, wh), found in sorted(late.items())]
    return {"liveness_ok": not breaches, "refused_while_available": sum(b["refusals"] for b in breaches),
            "refusals_checked": len(refusals), "liveness_bound_s": bound_s, "liveness_breaches": breaches}
