"""The nemesis's scheduler on the run's driver side (`run_saga`): applies the scenario's events at their times while the
load runs, and keeps the record of each one for the run's results.

Each event runs in its own thread from its instant on (the kill, then the wait until its target serves
again), so a slow recovery does not push the next event later: the stack may have several holes at once,
as it would on a bad day. Events not yet due when the load ends are recorded as skipped: the nemesis acts
while the load runs, and the settle time belongs to recovery.
"""

from __future__ import annotations

import threading
import time

import pandas as pd

from scenarios.nemesis import Event

COLUMNS = ("at_s", "t_s", "target", "action", "ok", "pid", "new_pid", "recovered_s", "detail")


class Scheduler:
    def __init__(self, events: list[Event], apply):
        self.events, self.apply = events, apply
        self._records: dict[int, dict] = {}
        self._ended = threading.Event()
        self._workers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, name="nemesis", daemon=True)
        self._t0 = 0.0

    def start(self) -> Scheduler:
        """Call at the load's start: every `at_s` counts from here."""
        self._t0 = time.monotonic()
        if self.events:
            self._thread.start()
        return self

    def _run(self) -> None:
        for i, ev in enumerate(self.events):
            if self._ended.wait(max(0.0, self._t0 + ev.at_s - time.monotonic())):
                for j in range(i, len(self.events)):
                    self._records[j] = _row(self.events[j], None, {"ok": False,
                                                                   "detail": "skipped: the load ended first"})
                return
            worker = threading.Thread(target=self._one, args=(i, ev), name=f"nemesis-{ev.target}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _one(self, i: int, ev: Event) -> None:
        t = time.monotonic() - self._t0
        try:
            done = self.apply(ev)
        except Exception as exc:   # noqa: BLE001 - a failed action is a result, not the end of the run
            done = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        self._records[i] = _row(ev, t, done)

    def finish(self) -> list[dict]:
        """The load has ended: skip what is not yet due, wait for every applied event's recovery."""
        self._ended.set()
        if self._thread.ident is not None:
            self._thread.join()
        for worker in self._workers:
            worker.join()
        return [self._records[i] for i in sorted(self._records)]


def _row(ev: Event, t: float | None, done: dict) -> dict:
    row = {"at_s": ev.at_s, "t_s": None if t is None else round(t, 3), "target": ev.target,
           "action": ev.action.value}
    extra = {k: v for k, v in done.items() if k not in COLUMNS}     # e.g. the supervisor's orphans
    return row | {k: done.get(k) for k in COLUMNS[4:]} | extra | {"detail": done.get("detail") or ""}


def frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(COLUMNS))
