"""The bulk's general steps: everything an attempt may do beyond the plain path `sim.bulk` inlines.

Covers: driver CPU per round trip and a strategy's extra loop CPU (bursts on the shared loop between
    steps), a connection granted after a wait, the warehouse walk fullest first, guarded's row lock (a FIFO
    per row, `Bulk.busy`) and its EvalPlanQual re-check, a lock taken ahead that yields to whoever asks
    first, the reply. Each step is `sim.service.checkout` + `reserve` + `reserve.guarded` at one instant.
Scenario: the steps are methods of `Bulk` (a mixin: they share its calendar, `push`, and its state); the
    plain path (no driver CPU, no extra, a connection at once, a row nobody holds) runs in `sim.bulk`
    without them, and falls back on them for anything else.
"""

from __future__ import annotations

from collections import deque
from heapq import heapreplace

from scenarios.results import Outcome
from sim.rowlock import commit
from sim.synced import BulkClaim as Attempt

WON, OUT_OF_STOCK = Outcome.WON.value, Outcome.OUT_OF_STOCK.value


def fullest_first(rows: list, seen: list[int]) -> tuple[list, list[int]]:
    """candidate_warehouses: fullest first, then by name (the rows are kept in name order)."""
    if len(rows) > 1 and min(seen) != max(seen):
        ranks = sorted(range(len(rows)), key=lambda k: (-seen[k], k))
        return [rows[k] for k in ranks], [seen[k] for k in ranks]
    return rows, seen


class Walk:
    """The steps; `a.arr` is the attempt's arrival: (at_service, id, sku, t_intended, outbound, http_s,
    stmt_s, hold_s, j_reply): its HTTP burst, statement and hold (UPDATE + commit) times and its reply's
    jitter, drawn with the crowd."""

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
        rows = self.rows(a.arr[2])
        a.order, a.seen = fullest_first(rows, [r.on_hand - r.reserved for r in rows])
        a.i = 0
        t2 = t + a.arr[6]
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
            self.push(t2, self.finish, a)            # sold out: nothing to walk
            return
        a.i, row = i, a.order[i]
        a.row = row
        if row in self.busy:
            self.push(t2, self.try_row, a)
            return
        self.busy[row] = ()
        self.planned[row] = a
        a.t_lock = t2
        a.t3 = t2 + a.arr[7]
        self.push(a.t3, self.commit_planned, a)

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
                self.busy[row] = ()                 # held, nobody waiting (a deque once someone does)
                self.locked(t, a)
            elif row in self.planned and self.planned[row].t_lock > t:   # asked first: the plan yields
                first = self.planned.pop(row)
                first.t3 = None
                first.order, first.seen = fullest_first(first.order, first.seen)   # its walk, from the top
                self.replans += 1
                self.push(first.t_lock, self.try_row, first)
                self.locked(t, a)
            else:
                a.t_lock = t
                if waiting:
                    waiting.append(a)
                else:
                    self.busy[row] = deque((a,))
            return
        self.push(t + self.shop.stmt_s * self.shop.jitter(), self.next_row, a)

    def locked(self, t: float, a: Attempt) -> None:
        s, row = self.shop, a.row
        if row.on_hand - row.reserved >= s.qty:                   # EvalPlanQual on the winner's row
            self.push(t + a.arr[7], self.committed, a)
        else:
            self.unlock(t, row)
            self.push(t + s.stmt_s * s.jitter(), self.next_row, a)

    def committed(self, t: float, a: Attempt) -> None:
        qty, row = self.shop.qty, a.row
        commit(self.shop, row, qty, at=t)
        if row.on_hand - row.reserved < qty and all(r.on_hand - r.reserved < qty for r in a.order):
            self.gone.add(a.arr[2])                              # its last unit: sold out from now on
        self.unlock(t, row)
        self.finish(t, a, row)

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

    def finish(self, t: float, a: Attempt, row=None) -> None:
        """The connection back (SyncedStation.release_at, inline: every attempt), the reply's burst on the
        loop (Cpu.run_at, inline), the trip back, the record; a step by itself for an attempt that found
        nothing (no row)."""
        pool, t_req, since = self.pool, a.t_req, a.usage_since
        held = t - t_req
        pool.area += held                    # in the system from t_req to t: its share of the area (SimPy's
        pool.sojourn_s += held               # claims tick `in_system` instead; a bulk claim's times may be
        pool.served += 1                     # set ahead of the clock, see Bulk._flush)
        if since > t_req:
            pool.waited += 1
            pool.wait_s += since - t_req
            pool.busy_s += t - since
        else:
            pool.busy_s += held
        if pool.queue:
            pool.pass_on(t)
        else:
            pool.busy -= 1
        _, i, sku, t_intended, outbound, _, _, _, j_reply = a.arr
        if row is None:
            burst, wh, outcome = self.reply_out_s * j_reply, None, OUT_OF_STOCK
        else:
            burst, wh, outcome = self.reply_won_s * j_reply, row.warehouse, WON
        if burst:
            loop = self.loop
            free = loop.free
            at = free[0]
            start = at if at > t else t
            heapreplace(free, start + burst)
            loop.bursts += 1
            loop.busy_s += burst
            if start > t:
                loop.waited += 1
                loop.wait_s += start - t
            t = start + burst
        self.records.append((i, sku, wh, t_intended, t + outbound, outcome, 0))
