"""The bulk of an open crowd, stepped from a calendar instead of SimPy processes: the hybrid's cheap half.

Covers: the attempts whose reservation cannot wait on a SimPy-held lock: every attempt on an SKU that was
    sold out when it arrived (any strategy: the snapshot sees no stock, no strategy code runs), and, under
    `guarded`, every attempt (only the bulk ever touches a row then).
Scenario: the same steps, step times, draws and resources as `sim.service.checkout` + `reserve` +
    `reserve.guarded`: the HTTP burst on the service loop, a pooled connection, the driver bursts, the
    snapshot, the statement, the row lock (FIFO), the commit, the reply burst. A step is a heap entry
    (time, seq, step, attempt); steps run in time order, and only when the SimPy half is about to touch
    the loop or the pool (`flush`), so both halves see every shared resource in time order: the same
    queueing, exactly, for a fraction of the cost of SimPy events.

Why the plain path is written out here: without driver CPU or a strategy extra (the Prime-Day bench, and
any calibration without them) an attempt is three instants: its arrival (an HTTP burst on the loop), its
connection (the pool, the snapshot, the lock taken ahead: `sim.bulk_walk.Walk.plan`) and its commit (the
row, the pool, the reply burst, the record). Each is one function with the loop's Cpu arithmetic and the
pool's Station bookkeeping inline; anything off that path (a queue at the pool, a held row, a yielded
plan) goes to the general steps in `sim.bulk_walk`, the very ones it inlines. A sold-out attempt (most of
a peak once the deals and the best sellers are gone) is two: when only the bulk uses the pool, its
connection is certain and reads nothing else shared, so it is done at its arrival (`_flush`). Measured on
the bench's steady state (callgrind, CPython 3.11): about 29,000 machine instructions an attempt, against
32,000 with the steps as calls and every sold-out attempt stepping three times.
"""

from __future__ import annotations

import itertools
from heapq import heappop, heappush, heapreplace

import numpy as np

from scenarios.results import Outcome
from sim.bulk_walk import Walk, fullest_first
from sim.stock import sku_name
from sim.synced import BulkClaim as Attempt

WON = Outcome.WON.value
INF = float("inf")
#: Arrivals consumed before the list is trimmed: a long run keeps only what is still ahead.
TRIM = 65_536


class BulkRow:
    """A cold row only the bulk touches: its lock is the bulk's FIFO (`Bulk.busy`), no SimPy Station.

    Why not a `sim.stock.Row`: a Prime-Day crowd touches a new cold SKU in one attempt of six, and three
    Rows with a Station, a name and fifteen fields each cost as much as the attempt itself. Here only what
    guarded's commit and the audit read is stored; what never changes for a cold row is the class's, and
    the SKU's name is spelled only when the audit asks for it.
    """
    __slots__ = ("number", "warehouse", "supply", "on_hand", "reserved", "writes", "held", "promises",
                 "strategies")
    sold = version = 0
    lock = mirror = returned = None
    index = -1

    def __init__(self, number: int, warehouse: str, units: int):
        self.number, self.warehouse = number, warehouse
        self.supply = self.on_hand = units
        self.reserved = self.writes = self.held = 0
        self.promises, self.strategies = [], set()

    @property
    def sku(self) -> str:
        return sku_name(self.number, 0)          # a BulkRow's SKU is never hot (those are Stockroom's Rows)

    def available(self) -> int:
        return self.on_hand - self.reserved


class Bulk(Walk):
    def __init__(self, shop):
        self.shop, self.env = shop, shop.env
        self.pool = self.loop = None         # the SyncedStation and SyncedCpu, set by the hybrid
        self.cal: list = []
        self.seq = itertools.count()
        self.arrivals: list[tuple] = []      # Walk's `a.arr` tuples, in time order
        self.ai = 0
        self.busy: dict = {}                 # locked row -> FIFO of bulk attempts waiting for it (or ())
        self.armed_at: float | None = None
        self.steps = self.attempts = self.replans = 0
        self.flushing = False
        self.planned: dict = {}              # row -> the attempt whose lock is taken ahead (`plan`)
        self.gone: set[int] = set()          # SKUs known sold out: the bulk's last units, hot ones SimPy sold
        self.records, self.stock = shop.records, shop.stock
        self.http_half_s, self.win_s, self.qty = shop.http_half_s, shop.win_s, shop.qty
        self.stmt_s, self.hold_s = shop.stmt_s, shop.stmt_s + shop.commit_s   # guarded's UPDATE + commit
        #: an arrival's HTTP, statement and hold step times and its reply's jitter are drawn with the crowd
        #: (`sim.hybrid.arrivals`): these times the jitter (the reply's mean depends on its outcome)
        self.step_times = np.array([shop.http_half_s, self.stmt_s, self.hold_s, 1.0])
        self.strategy_name = shop.strategy_name
        self.reply_won_s, self.reply_out_s = shop.http_half_s + shop.win_s, shop.http_half_s
        #: no driver CPU and no per-strategy extra between the snapshot and the walk: the plain path
        self.plain = not shop.driver_s and not shop.extra_s
        self.first = self.connect_plain if self.plain else self.connect
        #: the pool's size when only the bulk uses it (the hybrid sets it then, else 0): a sold-out attempt's
        #: connection may then be done at its arrival (`_flush`)
        self.solo_pool = 0

    # --- the calendar -------------------------------------------------------------------------------
    def add(self, rows: list[tuple]) -> None:
        """Arrivals reaching the service, sorted, none before an arrival already added."""
        if self.ai == len(self.arrivals):
            self.arrivals, self.ai = rows, 0
        else:
            if self.ai > TRIM:
                del self.arrivals[:self.ai]
                self.ai = 0
            self.arrivals += rows
        self.attempts += len(rows)
        self.watch()

    def push(self, t: float, step, a: Attempt) -> None:
        heappush(self.cal, (t, next(self.seq), step, a))
        if self.pool.simpy_waiting:
            self.woken(t)

    def woken(self, t: float) -> None:
        """A step pushed at `t` while a SimPy claim waits: SimPy must wake by then."""
        if self.armed_at is None or t < self.armed_at:
            self.watch(force=True)

    def next_time(self) -> float:
        ta = self.arrivals[self.ai][0] if self.ai < len(self.arrivals) else INF
        return min(ta, self.cal[0][0]) if self.cal else ta

    def flush(self, until: float) -> None:
        """Run every step due at or before `until`, in time order (arrivals first at a tie)."""
        if self.flushing:
            return
        self.flushing = True
        try:
            self._flush(until)
        finally:
            self.flushing = False

    def _flush(self, until: float) -> None:
        """The calendar's loop, an arrival's step written out (`Walk`'s enter: a third of all steps), its
        loop counters summed here and added once (the loop's free instants are shared at once)."""
        cal, arrivals, gone, pool, seq = self.cal, self.arrivals, self.gone, self.pool, self.seq
        loop, first, sold = self.loop, self.first, self.connect_sold_out
        free, plain = loop.free, self.plain
        ai, n, steps = self.ai, len(arrivals), 0
        ai0, bursts, waited = ai, 0, 0
        records, room = self.records, self.solo_pool
        finish = self.finish
        entered0 = self.attempts - n             # attempts entered before this flush, minus its `ai` start
        #: `watch` (which reads `self.ai`) runs only while a SimPy claim waits: none can start waiting
        #: during a flush, so without one now there is none until it returns
        track = pool.simpy_waiting
        busy_s = wait_s = 0.0
        try:
            while True:
                if ai < n:
                    arr = arrivals[ai]
                    t = arr[0]
                    if not cal or t <= cal[0][0]:
                        if t > until:
                            return
                        ai += 1
                        a = Attempt()
                        a.arr = arr
                        step = sold if plain and arr[2] in gone else first
                        burst = arr[5]
                        if not burst:
                            if track:
                                self.ai = ai
                            step(t, a)
                            continue
                        at = free[0]
                        start = at if at > t else t
                        end = start + burst
                        heapreplace(free, end)
                        bursts += 1
                        busy_s += burst
                        if start > t:
                            waited += 1
                            wait_s += start - t
                        if step is sold and room:
                            # sold out, and at most the pool's free connections' worth of arrivals come
                            # before its connection: the pool cannot run out meanwhile, so it is granted at
                            # `end` whatever happens, and nothing else it does reads shared state. Its
                            # connection's step runs now, with its own time `end` (counted busy from now);
                            # it steps once, at its release
                            free_conns = room - (entered0 + ai - len(records))
                            if free_conns > 0 and ai + free_conns < n and arrivals[ai + free_conns][0] > end:
                                pool.arrivals += 1                   # connect_sold_out(end, a), inline
                                pool.busy += 1
                                a.t_req = a.usage_since = end
                                heappush(cal, (end + arr[6], next(seq), finish, a))
                                continue
                        heappush(cal, (end, next(seq), step, a))
                        if track and pool.simpy_waiting:
                            self.ai = ai
                            self.woken(end)
                        continue
                if not cal or cal[0][0] > until:
                    return
                t, _, step, a = heappop(cal)
                if track:
                    self.ai = ai
                step(t, a)
                steps += 1
        finally:
            self.ai = ai
            self.steps += steps + ai - ai0
            loop.bursts += bursts
            loop.busy_s += busy_s
            loop.waited += waited
            loop.wait_s += wait_s

    def watch(self, force: bool = False) -> None:
        """While a SimPy claim waits for a connection, wake SimPy at the bulk's next step: a release
        there must grant it at that very instant."""
        if not self.pool.simpy_waiting:
            return
        t = self.next_time()
        if t == INF or (not force and self.armed_at is not None and self.armed_at <= t):
            return
        self.armed_at = t
        self.env.timeout(max(t - self.env.now, 0.0)).callbacks.append(self._wake)

    def _wake(self, _event) -> None:
        now = self.env.now
        if self.armed_at is not None and self.armed_at <= now:
            self.armed_at = None
        self.flush(now)
        self.watch()

    def granted(self, claim: Attempt, now: float) -> None:
        """A connection passed to a bulk attempt at `now`. From a bulk release it is a step after the
        current one; from a SimPy release it is what SimPy's `succeed` would be, an event at `now` that runs
        after the releasing process has gone on (its reply burst queues on the loop first)."""
        if self.flushing:
            self.push(now, self.send_snapshot, claim)
            return

        def resume(_event) -> None:
            self.push(now, self.send_snapshot, claim)
            self.flush(now)

        self.env.timeout(0).callbacks.append(resume)

    # --- the plain path: three instants an attempt (the arrival's is in `_flush`) -------------------
    def connect_sold_out(self, t: float, a: Attempt) -> None:
        """connect + snapshot + statement for an SKU with no stock left: nothing to walk."""
        pool = self.pool                                 # SyncedStation.request_at, inline
        a.t_req = t
        pool.arrivals += 1
        if pool.busy >= pool.capacity or pool.queue:
            a.usage_since = None                         # queued: `granted` resumes it at send_snapshot
            pool.queue.append(a)
            return
        pool.busy += 1
        a.usage_since = t
        t2 = t + a.arr[6]
        heappush(self.cal, (t2, next(self.seq), self.finish, a))
        if pool.simpy_waiting:
            self.woken(t2)

    def connect_plain(self, t: float, a: Attempt) -> None:
        """connect + snapshot + plan (`Walk`'s), when the pool grants at once and the row is free."""
        pool = self.pool
        a.t_req = t
        pool.arrivals += 1
        if pool.busy >= pool.capacity or pool.queue:
            a.usage_since = None
            pool.queue.append(a)
            return
        pool.busy += 1
        a.usage_since = t
        arr = a.arr
        rows = self.stock.rows.get(arr[2]) or self.rows(arr[2])
        seen = []                                        # a loop, not a comprehension: no function
        for r in rows:                                   # object and frame per snapshot (Python 3.11)
            seen.append(r.on_hand - r.reserved)
        best = max(seen)
        t2 = t + arr[6]
        if best < self.qty:
            a.order, a.seen = rows, seen
            self.push(t2, self.finish, a)
            return
        row = rows[seen.index(best)]                     # fullest first, then by name: the walk's first
        a.row, a.i = row, 0
        busy = self.busy
        if row in busy:
            a.order, a.seen = fullest_first(rows, seen)
            self.push(t2, self.try_row, a)
            return
        a.order, a.seen = rows, seen                     # in name order: sorted only if the plan yields
        busy[row] = ()
        self.planned[row] = a
        a.t_lock = t2
        t3 = a.t3 = t2 + arr[7]
        heappush(self.cal, (t3, next(self.seq), self.commit_planned, a))
        if pool.simpy_waiting:
            self.woken(t3)

    def commit_planned(self, t: float, a: Attempt) -> None:
        """A lock taken ahead, at its commit: Walk.committed and its unlock, inline."""
        if a.t3 != t:
            return                               # cancelled: someone asked for the row first
        row, qty, stock, busy = a.row, self.qty, self.stock, self.busy
        del self.planned[row]
        row.reserved += qty                      # rowlock.commit + Stockroom.promise, inline
        row.writes += 1
        stock.reservations += 1
        row.promises.append((stock.reservations, qty, t))
        row.held += qty
        row.strategies.add(self.strategy_name)
        if row.on_hand - row.reserved < qty and all(r.on_hand - r.reserved < qty for r in a.order):
            self.gone.add(a.arr[2])              # its last unit: sold out from now on
        if busy[row]:
            self.unlock(t, row)                  # the lock passes to the first in line
        else:
            del busy[row]
        self.finish(t, a, row)

    def rows(self, sku: int) -> list:
        """The SKU's rows; a cold SKU's first touch creates them as BulkRows (only the bulk touches them)."""
        stock = self.stock
        rows = stock.rows.get(sku)
        if rows is None:
            units = stock.cold_units
            rows = stock.rows[sku] = [BulkRow(sku, wh, units) for wh in stock.warehouses]
        return rows
