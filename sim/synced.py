"""The resources the hybrid's two halves share, touched in time order by SimPy processes and by the bulk.

Why: the bulk (`sim.bulk`) processes its attempts' steps lazily, from its own calendar, whenever the SimPy
side is about to touch a shared resource; so every SimPy touch first brings the bulk up to `now` (`flush`),
and the bulk touches the same resource at its own step's time (`*_at`). The event loop (a Cpu) has no
waiters: its arithmetic is exact whoever calls first, as long as calls come in time order. The pool has
waiters: a SimPy claim waiting on a connection a bulk attempt holds must be woken at the instant it is
released, so while one waits the bulk asks for a wake-up at each of its next step times (`Bulk.watch`).
The pool's time-average (its area) counts a SimPy claim by ticks, a bulk claim by its whole stay, added
at its release: when only the bulk uses the pool, a sold-out attempt's certain grant is booked at its
arrival, ahead of the clock (`Bulk._flush`), which ticks could not do.
"""

from __future__ import annotations

import heapq

from sim.queueing import Claim, Cpu, Station


class SyncedCpu(Cpu):
    """A Cpu whose SimPy callers first let the bulk catch up; the bulk calls `run_at` with its own time."""

    def __init__(self, env, capacity: int, bulk):
        super().__init__(env, capacity)
        self.bulk = bulk

    def run(self, seconds: float) -> float:
        now = self.env.now
        self.bulk.flush(now)
        return self.run_at(now, seconds)

    def run_at(self, now: float, seconds: float) -> float:
        """Cpu.run at `now` (the caller's time): how long until the burst is done."""
        at = self.free[0]
        start = at if at > now else now
        heapq.heapreplace(self.free, start + seconds)
        self.bursts += 1
        self.busy_s += seconds
        if start > now:
            self.waited += 1
            self.wait_s += start - now
        return start + seconds - now


class BulkClaim:
    """A bulk attempt, which is its own request for a connection (granted at once, or resumed by
    `Bulk.granted`): one object per attempt, not two."""
    __slots__ = ("t_req", "usage_since", "arr", "order", "seen", "i", "row", "t_lock", "t3")


class SyncedStation(Station):
    """The connection pool, one FIFO queue for SimPy claims and bulk claims alike."""

    def __init__(self, env, capacity: int, bulk):
        super().__init__(env, capacity)
        self.bulk = bulk
        self.simpy_waiting = 0       # SimPy claims in the queue: the bulk must wake them on time

    def request(self) -> Claim:
        now = self.env.now
        self.bulk.flush(now)
        claim = Claim(self, now)
        if self.request_at(now, claim):
            claim._ok, claim._value, claim.callbacks = True, None, None
        return claim

    def request_at(self, now: float, claim) -> bool:
        """Queue `claim` at `now`; True when granted at once (Station.request's bookkeeping). A bulk
        claim adds its whole time in the system to the area at its release (`Walk.finish`)."""
        if type(claim) is Claim:
            self._tick(now, 1)
        self.arrivals += 1
        if self.busy < self.capacity and not self.queue:
            self.busy += 1
            claim.usage_since = now
            return True
        self.queue.append(claim)
        if type(claim) is Claim:
            self.simpy_waiting += 1
            self.bulk.watch()
        return False

    def release(self, claim) -> None:
        now = self.env.now
        self.bulk.flush(now)
        self.release_at(claim, now)

    def release_at(self, claim, now: float) -> None:
        """A SimPy claim's release (the bulk's are `Walk.finish`)."""
        self._tick(now, -1)
        self.sojourn_s += now - claim.t_req
        if claim.usage_since is None:          # a SimPy claim withdrawn while queued
            self.queue.remove(claim)
            self.simpy_waiting -= 1
            return
        self.served += 1
        wait = claim.usage_since - claim.t_req
        self.wait_s += wait
        self.busy_s += now - claim.usage_since
        if wait > 0:
            self.waited += 1
        if not self.queue:
            self.busy -= 1
            return
        self.pass_on(now)

    def pass_on(self, now: float) -> None:
        """A released connection passes straight to the first in line."""
        nxt = self.queue.popleft()
        nxt.usage_since = now
        if type(nxt) is BulkClaim:
            self.bulk.granted(nxt, now)
            return
        self.simpy_waiting -= 1
        if now != self.env.now:                # the bulk's wake-ups exist so that this never happens
            raise RuntimeError(f"hybrid: a SimPy claim granted at {now} while the clock says {self.env.now}")
        nxt.succeed()
