"""A checkout straight on the inventory database: the same SQL blocks the service runs, without HTTP.

Why: comparing strategies without the HTTP hop shows what the database alone can do. The blocks come from
`reference_impl/inventory/sql/` through aiosql, so this is the same SQL, not a copy; the control flow per
strategy mirrors `reserve.py` (which is asyncpg, and asyncio does not fit a gevent user).
Import only inside the Locust process: psycopg must load after gevent's patch, or its queries serialize.
"""

from __future__ import annotations

import random
import time
import uuid

import aiosql
import psycopg
from psycopg import errors

from loadtests.protocol import GOOD, Answer
from scenarios.results import Outcome
from scenarios.strategies import BACKOFF_BASE_S, BACKOFF_CAP_S, LOCK_TIMEOUT_MS, MAX_RETRIES, Starved


def queries(sql_text: str):
    """The inventory's named blocks from the plan's text (`Plan.reserve_sql`), for psycopg."""
    if not sql_text:
        raise ValueError("the plan carries no SQL blocks (plan.reserve_sql): the master must fill it")
    return aiosql.from_str(sql_text, "psycopg", mandatory_parameters=False)
RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)



def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt)))


class SqlCheckout:
    """Reserve (by strategy) and commit over one psycopg connection; reports each step through `fire`."""

    def __init__(self, dsn: str, plan, fire):
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.plan, self.fire = plan, fire
        self.q = queries(plan.reserve_sql)

    def close(self) -> None:
        self.conn.close()

    def _row(self, sku: str, wh: str, attempt_id: str, retries: int) -> dict:
        p = self.plan
        return dict(sku=sku, warehouse=wh, qty=p.qty, strategy=p.strategy, attempt_id=attempt_id,
                    retries=retries, ttl_s=float(p.ttl_s))

    def _naive(self, c, sku, wh, aid):
        on_hand, reserved, _ = self.q.read_counter(c, sku=sku, warehouse=wh)
        if on_hand - reserved < self.plan.qty:
            return None, 0
        time.sleep(self.plan.naive_window_ms / 1000)     # the control's read-to-write window
        self.q.write_back_counter(c, sku=sku, warehouse=wh, new_reserved=reserved + self.plan.qty)
        return self.q.insert_reservation(c, **self._row(sku, wh, aid, 0)), 0

    def _pessimistic(self, c, sku, wh, aid):
        with c.transaction():
            c.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
            on_hand, reserved, _ = self.q.lock_counter(c, sku=sku, warehouse=wh)
            if on_hand - reserved < self.plan.qty:
                return None, 0
            self.q.increment_reserved(c, sku=sku, warehouse=wh, qty=self.plan.qty)
            return self.q.insert_reservation(c, **self._row(sku, wh, aid, 0)), 0

    def _optimistic(self, c, sku, wh, aid):
        for attempt in range(MAX_RETRIES + 1):
            on_hand, reserved, version = self.q.read_counter(c, sku=sku, warehouse=wh)
            if on_hand - reserved < self.plan.qty:
                return None, attempt
            with c.transaction():
                if self.q.increment_if_version(c, sku=sku, warehouse=wh, qty=self.plan.qty, version=version):
                    return self.q.insert_reservation(c, **self._row(sku, wh, aid, attempt)), attempt
            _backoff(attempt)
        raise Starved(MAX_RETRIES)

    def _guarded(self, c, sku, wh, aid):
        return self.q.reserve_guarded(c, **self._row(sku, wh, aid, 0)), 0

    def _batched(self, c, sku, wh, aid):
        """A batch of one: coalescing needs the service's process; one connection has one ask at a time."""
        rows = list(self.q.reserve_batch(c, sku=sku, warehouse=wh, qty=self.plan.qty, strategy=self.plan.strategy,
                                         ids=[uuid.uuid4()], attempt_ids=[aid], ttls=[float(self.plan.ttl_s)]))
        made = [r for r in rows if r[0] == "made"]
        return (made[0][1:] if made else None), 0

    def _serializable(self, c, sku, wh, aid):
        for attempt in range(MAX_RETRIES + 1):
            try:
                with c.transaction():
                    c.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                    on_hand, reserved, _ = self.q.read_counter(c, sku=sku, warehouse=wh)
                    if on_hand - reserved < self.plan.qty:
                        return None, attempt
                    self.q.increment_reserved(c, sku=sku, warehouse=wh, qty=self.plan.qty)
                    return self.q.insert_reservation(c, **self._row(sku, wh, aid, attempt)), attempt
            except RETRYABLE:
                _backoff(attempt)
        raise Starved(MAX_RETRIES)

    def _reserve(self, sku: str, aid: str) -> Answer:
        attempt = getattr(self, f"_{self.plan.strategy}")
        retries = 0
        for wh, _available in self.q.candidate_warehouses(self.conn, sku=sku, warehouse=None):
            try:
                row, tries = attempt(self.conn, sku, wh, aid)
            except Starved as exc:
                return Answer(Outcome.FAILED, retries + exc.retries, detail="retries_exhausted")
            except errors.LockNotAvailable:
                return Answer(Outcome.FAILED, retries, detail="lock_timeout")
            retries += tries
            if row is not None:
                return Answer(Outcome.WON, retries, wh, detail=str(row[0]))
        return Answer(Outcome.OUT_OF_STOCK, retries)

    def _timed(self, name: str, step) -> Answer:
        t0 = time.perf_counter()
        try:
            ans = step()
        except psycopg.Error as exc:    # connection lost or a statement we cannot explain: may be applied
            ans = Answer(Outcome.UNKNOWN, detail=type(exc).__name__)
        self.fire(request_type="SQL", name=name, response_time=(time.perf_counter() - t0) * 1000,
                  response_length=0, context={},
                  exception=None if ans.outcome in GOOD else RuntimeError(f"{ans.outcome}: {ans.detail}"))
        return ans

    def _commit(self, rid: str, won: Answer) -> Answer:
        try:
            row = self.q.commit_reservation(self.conn, id=rid)
        except errors.CheckViolation:
            return Answer(Outcome.FAILED, won.retries, won.warehouse, detail="stock_inconsistent")
        if row is None:
            return Answer(Outcome.FAILED, won.retries, won.warehouse, detail="not_held")
        return won

    def checkout(self, sku: str, attempt_id: str) -> Answer:
        won = self._timed(f"reserve {self.plan.strategy}", lambda: self._reserve(sku, attempt_id))
        if won.outcome != Outcome.WON:
            return won
        rid = won.detail
        return self._timed("commit", lambda: self._commit(rid, won))
