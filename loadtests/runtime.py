"""One Locust process's share of a swarm: its arrivals, its records, and when it is done.

Why a separate module: the locustfile stays a small declarative file, and this state (the shared start
instant, the crowd share, in-flight counts) lives in one object per process. Uses gevent, so it is loaded
only inside the Locust process; the pure parts it calls (arrivals, records) are tested without it.
"""

from __future__ import annotations

import itertools
import os
import time
from types import SimpleNamespace

import gevent
from gevent.event import Event

from loadtests.plan import Plan
from loadtests.records import Recorder
from scenarios.arrivals import Crowd, crowd, pick_skus, streams
from scenarios.journey import carts
from scenarios.results import Outcome

#: A user with nothing to start sleeps this long between looks (cheap; the run ends soon after).
IDLE_S = 0.2
#: How often a process checks whether its share is done (the run ends about this long after the last answer).
DONE_POLL_S = 0.2
#: Closed-model users cycle through this many seeded SKU picks (Zipf-popular, like the open model's).
CLOSED_PICKS = 65_536
#: `LASTUNIT_OUT` on a worker machine: the results folder it writes `<run_id>/` into (the plan names the
#: master's own run directory, which another machine may not have).
OUT_ENV = "LASTUNIT_OUT"


class Runtime:
    def __init__(self):
        self.ready = Event()
        self.env = None                  # Locust's environment, set at its init event
        self.plan: Plan | None = None
        self.t0 = 0.0
        self.index, self.count = 0, 1
        self.recorder: Recorder | None = None
        self.share: Crowd | None = None
        self.cursor = 0
        self.pending = 0                 # arrivals taken (or racers spawned) and not yet recorded
        self.racers = 0
        self.done = False
        self.seq = itertools.count()
        self.picks: list[int] = []
        self.carts: list[list[int]] = []     # a journey: this process's sessions' carts, by share index

    def configure(self, plan: Plan, t0: float, index: int, count: int, on_done) -> None:
        """Called once per process before its users start: with the plan and the shared time zero."""
        self.plan, self.t0, self.index, self.count = plan, t0, index, count
        self.recorder = Recorder(plan, tag=f"w{index}-{os.getpid()}")
        self.recorder.stats.update(t0=t0, index=index, count=count)
        if plan.model == "open":
            whole = crowd(plan.shape, plan.duration_s, plan.seed, plan.hot_skus, plan.cold_skus,
                          plan.hot_fraction, plan.zipf_s)
            self.share = whole.share(index, count)
            if plan.journey is not None:
                self.carts = carts(whole.sku, SimpleNamespace(**plan.journey), plan.hot_skus, plan.cold_skus,
                                   plan.zipf_s, plan.seed)[index::count]
            self.recorder.stats["scheduled"] = len(self.share)
            self.recorder.stats["crowd"] = len(whole)
        if plan.model == "closed":
            picks = pick_skus(CLOSED_PICKS, plan.hot_skus, plan.cold_skus, plan.hot_fraction, plan.zipf_s,
                              streams(plan.seed)["sku"])
            self.picks = picks[index::count].tolist()
        self.ready.set()
        if plan.model != "closed":
            gevent.spawn(self._watch, on_done)

    def _finished(self) -> bool:
        if time.time() < self.t0 or self.pending:
            return False
        if self.plan.model == "open":
            return self.cursor >= len(self.share)
        return self.racers > 0

    def _watch(self, on_done) -> None:
        while not self._finished():
            gevent.sleep(DONE_POLL_S)
        self.done = True
        on_done(self)

    def take(self) -> tuple[int, float, str] | None:
        """The next arrival of this process's share: (global index, intended epoch time, SKU), or None."""
        if self.cursor >= len(self.share):
            return None
        k = self.cursor
        self.cursor += 1
        self.pending += 1
        return (self.index + k * self.count, self.t0 + float(self.share.t[k]),
                self.plan.sku_name(int(self.share.sku[k])))

    def take_session(self) -> tuple[int, float, list[str]] | None:
        """A journey's next session: (global index, intended epoch time, its cart's SKU names), or None."""
        item = self.take()
        return None if item is None else (item[0], item[1], [self.plan.sku_name(i)
                                                              for i in self.carts[self.cursor - 1]])

    def next_sku(self) -> str:
        """Closed model: the next seeded pick of this process."""
        k = next(self.seq)
        return self.plan.sku_name(self.picks[k % len(self.picks)])

    def sleep_until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            gevent.sleep(delay)

    def attempt(self, client, user_id: str, attempt_id: str, sku: str, t_intended: float, fire) -> None:
        """Start one checkout now (or drop it, if far too late); record it; report it from `t_intended`.

        The caller counted it in `pending` (take(), a racer's spawn, a closed user's turn)."""
        t_start = time.time()
        try:
            if self.recorder.lag(t_intended, t_start) == "drop":
                return
            answer = client.checkout(sku, attempt_id)
        finally:
            self.pending -= 1
        t_end = time.time()
        self.recorder.add(attempt_id, user_id, sku, t_intended, t_start, t_end, answer)
        ok = answer.outcome.value in ("won", "out_of_stock")
        fire(request_type="CHECKOUT", name="checkout (from intended start)",
             response_time=(t_end - t_intended) * 1000.0, response_length=0, context={},
             exception=None if ok else RuntimeError(f"{answer.outcome.value}: {answer.detail}"))

    def session(self, shopper, user_id: str, k: int, t_intended: float, lines: list[str], rng, fire) -> None:
        """One journey session now (or dropped, if far too late): browse, fill the cart, check it out; a row
        per cart line in the attempts (each line has its order's outcome: one order of the cart), timed from the
        session's intended start. The caller counted it in `pending` (take_session())."""
        t_start = time.time()
        try:
            if self.recorder.lag(t_intended, t_start) == "drop":
                return
            key = f"{self.plan.run_id}-j{k}"
            shopper.browse(key, rng, lines)
            shopper.fill(key, lines)
            t_checkout = time.time()
            answers, retries = shopper.checkout(key, lines)
        finally:
            self.pending -= 1
        t_end = time.time()
        for sku in lines:
            outcome, order = answers.get(sku, (Outcome.UNKNOWN, {}))
            self.recorder.add(f"{key}:{sku}", user_id, sku, t_intended, t_checkout, t_end,
                              SimpleNamespace(outcome=outcome, warehouse=None, retries=retries,
                                              order_id=order.get("id"), resolved_late=False))
        bad = [o.value for o, _ in answers.values() if o not in (Outcome.WON, Outcome.OUT_OF_STOCK, Outcome.DECLINED)]
        fire(request_type="JOURNEY", name="session (from intended start)",
             response_time=(t_end - t_intended) * 1000.0, response_length=0, context={},
             exception=RuntimeError(", ".join(bad)) if bad else None)

    def write(self) -> None:
        if self.recorder is None or self.recorder.written:
            return
        left = len(self.share) - self.cursor if self.share is not None else 0
        base = os.environ.get(OUT_ENV)
        out = os.path.join(base, self.plan.run_id) if base else self.plan.out_dir or f"results/{self.plan.run_id}"
        self.recorder.write(out, never_started=left)
