"""The bulk of an open crowd, stepped from a calendar instead of SimPy processes: the hybrid's cheap half.

Covers: the attempts whose reservation cannot wait on a SimPy-held lock: every attempt on an SKU that was
    sold out when it arrived (any strategy: the snapshot sees no stock, no strategy code runs), and, under
    `guarded`, every attempt on a cold SKU (only the bulk ever touches cold rows then).
Scenario: the same steps, step times, draws and resources as `sim.service.checkout` + `reserve` +
    `reserve.guarded`: the HTTP burst on the service loop, a pooled connection, the driver bursts, the
    snapshot, the statement, the row lock (FIFO, only bulk attempts queue on a cold row), the commit, the
    reply burst. A step is a heap entry (time, seq, step, attempt); steps run in time order, and only when
    the SimPy half is about to touch the loop or the pool (`flush`), so both halves see every shared
    resource in time order: the same queueing, exactly, for a fraction of the cost of SimPy events.
"""

from __future__ import annotations

import itertools
from collections import deque
from heapq import heappop, heappush, heapreplace

from scenarios.results import Outcome
from sim.rowlock import commit
from sim.stock import Row, sku_name
from sim.synced import BulkClaim

WON, OUT_OF_STOCK = Outcome.WON.value, Outcome.OUT_OF_STOCK.value
INF = float("inf")
#: Arrivals consumed before the list is trimmed: a long run keeps only what is still ahead.
TRIM = 65_536


class BulkRow(Row):
    """A cold row only the bulk touches: its lock is the bulk's FIFO (`Bulk.busy`), no SimPy Station."""
    __slots__ = ()

    def __init__(self, sku: str, warehouse: str, units: int):
        self.sku, self.warehouse = sku, warehouse
        self.supply = self.on_hand = units
        self.reserved = self.sold = self.version = self.writes = self.held = 0
        self.lock, self.promises, self.strategies, self.mirror = None, [], set(), None
        self.index, self.returned = -1, None       # nothing returns units in an open race model


Attempt = BulkClaim


class Bulk:
    def __init__(self, shop):
        self.shop, self.env = shop, shop.env
        self.pool = None                     # the SyncedStation, set by the hybrid once it exists
        self.cal: list = []
        self.seq = itertools.count()
        self.arrivals: list[tuple] = []      # (at_service, id, sku, t_intended, outbound), in time order
        self.ai = 0
        self.busy: dict = {}                 # cold row -> FIFO of bulk attempts waiting for its lock
        self.armed_at: float | None = None
        self.steps = self.attempts = self.replans = 0
        self.flushing = False
        self.stock_rows = shop.stock.rows
        self.planned: dict = {}              # row -> the attempt whose lock is taken ahead (`plan`)
        self.gone: set[int] = set()          # SKUs known sold out: the bulk's last units, hot ones SimPy sold
        self.hot, self.records = shop.stock.hot_skus, shop.records
        self.http_half_s, self.win_s = shop.http_half_s, shop.win_s
        #: no driver CPU and no per-strategy extra between the snapshot and the walk: the sold-out shortcut
        self.plain = not shop.driver_s and not shop.extra_s

    # --- the calendar -------------------------------------------------------------------------------
    def add(self, rows: list[tuple]) -> None:
        """Arrivals reaching the service, sorted, none before an arrival already added."""
        if self.ai > TRIM:
            del self.arrivals[:self.ai]
            self.ai = 0
        self.arrivals += rows
        self.attempts += len(rows)
        self.watch()

    def push(self, t: float, step, a: Attempt) -> None:
        heappush(self.cal, (t, next(self.seq), step, a))
        if self.pool.simpy_waiting and (self.armed_at is None or t < self.armed_at):
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
        cal, arrivals, entry = self.cal, self.arrivals, self.entry
        ai, n, steps = self.ai, len(self.arrivals), 0
        try:
            while True:
                if ai < n:
                    ta = arrivals[ai][0]
                    if not cal or ta <= cal[0][0]:
                        if ta > until:
                            return
                        ai += 1
                        self.ai = ai                 # `watch` may look at the next arrival
                        entry(*arrivals[ai - 1])
                        steps += 1
                        continue
                if not cal or cal[0][0] > until:
                    return
                t, _, step, a = heappop(cal)
                step(t, a)
                steps += 1
        finally:
            self.ai = ai
            self.steps += steps

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

    # --- one attempt, step by step (sim.service.checkout / reserve, reserve.guarded) ------------------
    def entry(self, t: float, i: int, sku: int, t_intended: float, outbound: float, j_http: float,
              j_stmt: float, j_hold: float, j_reply: float) -> None:
        """An arrival; its common step times' jitter was drawn with the crowd, a vector at a time."""
        a = Attempt()
        a.id, a.sku, a.t_intended, a.outbound = i, sku, t_intended, outbound
        a.j_stmt, a.j_hold, a.j_reply = j_stmt, j_hold, j_reply
        # sold out now means sold out at the snapshot (stock only falls): skip the walk
        step = self.connect_sold_out if self.plain and sku in self.gone else self.connect
        http = self.http_half_s
        if http:
            loop, burst = self.loop, http * j_http   # Cpu.run_at, inline: two bursts per attempt
            at = loop.free[0]
            start = at if at > t else t
            heapreplace(loop.free, start + burst)
            loop.bursts += 1
            loop.busy_s += burst
            if start > t:
                loop.waited += 1
                loop.wait_s += start - t
            self.push(start + burst, step, a)
        else:
            step(t, a)

    def connect_sold_out(self, t: float, a: Attempt) -> None:
        """connect + snapshot + statement for an SKU with no stock left: nothing to walk."""
        a.t_req, a.usage_since = t, None
        if self.pool.request_at(t, a):
            self.push(t + self.shop.stmt_s * a.j_stmt, self.sold_out, a)

    def sold_out(self, t: float, a: Attempt) -> None:
        self.finish(t, a, None)

    def connect(self, t: float, a: Attempt) -> None:
        a.t_req, a.usage_since = t, None
        if self.pool.request_at(t, a):
            self.send_snapshot(t, a)

    def _send(self, t: float, a: Attempt, step) -> None:
        s = self.shop
        if s.driver_s:
            self.push(t + s.loop.run_at(t, s.driver_s * s.jitter()), step, a)
        else:
            step(t, a)

    def send_snapshot(self, t: float, a: Attempt) -> None:
        self._send(t, a, self.snapshot)

    def snapshot(self, t: float, a: Attempt) -> None:
        """candidate_warehouses: fullest first, then by name (the rows are kept in name order)."""
        rows = self.rows(a.sku)
        seen = [r.on_hand - r.reserved for r in rows]
        if len(rows) > 1 and min(seen) != max(seen):
            ranks = sorted(range(len(rows)), key=lambda k: (-seen[k], k))
            rows, seen = [rows[k] for k in ranks], [seen[k] for k in ranks]
        a.order, a.seen, a.i = rows, seen, 0
        t2 = t + self.shop.stmt_s * a.j_stmt
        if self.plain:
            self.plan(t2, a)
        else:
            self.push(t2, self.after_statement, a)

    def plan(self, t2: float, a: Attempt) -> None:
        """At the snapshot, the walk's and the lock's outcome when nobody holds or wants the row: take the
        lock now for the instant `t2` it is asked for, and step once more only at the commit. Another
        attempt asking for the row before `t2` (its statement was quicker) takes precedence: `try_row`
        then cancels this plan and this attempt asks at `t2` like anyone else."""
        qty, seen, i = self.shop.qty, a.seen, 0
        while i < len(seen) and seen[i] < qty:
            i += 1
        if i == len(seen):
            self.push(t2, self.sold_out, a)
            return
        a.i, row = i, a.order[i]
        a.row = row
        if row in self.busy or row.on_hand - row.reserved < qty:
            self.push(t2, self.try_row, a)
            return
        self.busy[row] = deque()
        self.planned[row] = a
        a.t_lock = t2
        a.t3 = t2 + (self.shop.stmt_s + self.shop.commit_s) * a.j_hold
        self.push(a.t3, self.commit_planned, a)

    def commit_planned(self, t: float, a: Attempt) -> None:
        if a.t3 != t:
            return                               # cancelled: someone asked for the row first
        del self.planned[a.row]
        self.committed(t, a)

    def after_statement(self, t: float, a: Attempt) -> None:
        s = self.shop
        if not s.extra_s:
            self.walk(t, a)
        elif s.extra_holds_cpu:
            self.push(t + s.loop.run_at(t, s.extra_s * s.jitter()), self.walk, a)
        else:
            self.push(t + s.extra_s * s.jitter(), self.walk, a)

    def walk(self, t: float, a: Attempt) -> None:
        """The next warehouse the snapshot saw stock in, else out of stock."""
        qty, seen, i = self.shop.qty, a.seen, a.i
        while i < len(seen) and seen[i] < qty:
            i += 1
        a.i = i
        if i == len(seen):
            self.finish(t, a, None)
            return
        a.row = a.order[i]
        self._send(t, a, self.try_row)

    def try_row(self, t: float, a: Attempt) -> None:
        """guarded: a snapshot row failing the WHERE is skipped without waiting; else the row lock."""
        row = a.row
        if row.on_hand - row.reserved >= self.shop.qty:
            waiting = self.busy.get(row)
            if waiting is None:
                self.busy[row] = deque()
                self.locked(t, a)
            elif row in self.planned and self.planned[row].t_lock > t:   # asked first: the plan yields
                first = self.planned.pop(row)
                first.t3 = None
                self.replans += 1
                self.push(first.t_lock, self.try_row, first)
                self.locked(t, a)
            else:
                a.t_lock = t
                waiting.append(a)
            return
        self.push(t + self.shop.stmt_s * self.shop.jitter(), self.next_row, a)

    def locked(self, t: float, a: Attempt) -> None:
        s, row = self.shop, a.row
        if row.on_hand - row.reserved >= s.qty:                   # EvalPlanQual on the winner's row
            self.push(t + (s.stmt_s + s.commit_s) * a.j_hold, self.committed, a)
        else:
            self.unlock(t, row)
            self.push(t + s.stmt_s * s.jitter(), self.next_row, a)

    def committed(self, t: float, a: Attempt) -> None:
        qty = self.shop.qty
        commit(self.shop, a.row, qty, at=t)
        row = a.row
        if row.on_hand - row.reserved < qty and all(r.on_hand - r.reserved < qty for r in a.order):
            # its last unit: sold out from now on
            self.gone.add(a.sku)
        self.unlock(t, a.row)
        self.finish(t, a, a.row)

    def unlock(self, t: float, row) -> None:
        waiting = self.busy[row]
        if waiting:
            nxt = waiting.popleft()
            self.shop.waited_for_lock(t - nxt.t_lock)
            self.push(t, self.locked, nxt)
        else:
            del self.busy[row]

    def next_row(self, t: float, a: Attempt) -> None:
        a.i += 1
        self.walk(t, a)

    def finish(self, t: float, a: Attempt, row) -> None:
        self.pool.release_at(a, t)
        reply = self.http_half_s + self.win_s if row is not None else self.http_half_s
        if reply:
            loop, burst = self.loop, reply * a.j_reply
            at = loop.free[0]
            start = at if at > t else t
            heapreplace(loop.free, start + burst)
            loop.bursts += 1
            loop.busy_s += burst
            if start > t:
                loop.waited += 1
                loop.wait_s += start - t
            t = start + burst
        self.records.append((a.id, a.sku, row.warehouse if row is not None else None, a.t_intended,
                             t + a.outbound, WON if row is not None else OUT_OF_STOCK, 0))

    def rows(self, sku: int) -> list:
        """The SKU's rows; a cold SKU's first touch creates them as BulkRows (only the bulk touches them)."""
        stock = self.shop.stock
        rows = stock.rows.get(sku)
        if rows is None:
            name = sku_name(sku, stock.hot_skus)
            rows = stock.rows[sku] = [BulkRow(name, wh, stock.cold_units) for wh in stock.warehouses]
        return rows
