"""The change relay: committed source writes -> the search index, through a logical replication slot.

The protocol, one step: read the flush LSN `upto`; PEEK at most BATCH_ROWS decoded rows up to it (peeking
consumes nothing); apply the touched SKUs to the index and the progress row in ONE transaction; then
ADVANCE the slot (to `upto` when the peek was not cut short, else to the last commit read). A relay killed
anywhere in that step re-reads the same changes on restart: nothing is lost (the slot still holds them)
and the replay is harmless (the index keeps a document only if its source version is newer).

Caught up, it sleeps until a write to products wakes it (the schema's trigger notifies `lastunit_catalog`,
which the relay LISTENs to on its own connection), or IDLE_FALLBACK_S passes: then it advances the slot past
the other databases' WAL, so an idle slot never holds WAL back for long.
"""

from __future__ import annotations

import asyncio
import logging
import os
from importlib import resources

import aiosql
import asyncpg

from reference_impl.catalog.changes import Batch, parse
from reference_impl.infra.wake import nap
from scenarios.policy import IDLE_FALLBACK_S

CDC = aiosql.from_path(str(resources.files("reference_impl.catalog") / "sql" / "cdc.sql"), "asyncpg",
                      mandatory_parameters=False)
SLOT = os.environ.get("LAB_CATALOG_SLOT", "lastunit_catalog_search")
#: Rows per peek: big enough to amortize the decoding start (~ms), small enough that a replay after a
#: crash is cheap and one batch's index transaction stays short. A single larger transaction comes whole.
BATCH_ROWS = int(os.environ.get("LAB_CATALOG_BATCH_ROWS", "2000"))
#: What the products trigger notifies (schema.sql).
CHANNEL = "lastunit_catalog"
#: Back off after an error (the database restarting, or a second relay holding the slot), doubling up to
#: RETRY_MAX_S while the error persists (wal_level not logical is permanent until a restart).
RETRY_S, RETRY_MAX_S = 0.5, 5.0
#: Exit code of a deliberate crash, so the supervisor's log tells it from a bug.
CRASH_EXIT = 70
CRASH_POINTS = ("after_apply", "before_apply")

log = logging.getLogger("catalog.relay")


class Relay:
    def __init__(self, dsn: str, slot: str = SLOT, batch_rows: int = BATCH_ROWS):
        self.dsn, self.slot, self.batch_rows = dsn, slot, batch_rows
        self.crash_at: str | None = None      # armed by the admin endpoint: die there, on the next batch
        self.batches = self.changes = 0
        self.last_error: str | None = None
        self.wake = asyncio.Event()

    async def ensure_slot(self, conn) -> bool:
        """Create the slot if missing; backfill once. True when this call backfilled."""
        if not await CDC.slot_exists(conn, slot=self.slot):
            try:
                await CDC.create_slot(conn, slot=self.slot)
            except asyncpg.DuplicateObjectError:
                pass                           # another relay created it first
        if await CDC.progress_exists(conn, slot=self.slot):
            return False
        # Everything committed before the slot's start is read here; everything after, by the slot.
        async with conn.transaction():
            await CDC.index_skus(conn, all=True, skus=[])
            await CDC.unindex_deleted(conn, all=True, skus=[])
            lsn = await CDC.confirmed_lsn(conn, slot=self.slot)
            await CDC.save_progress(conn, slot=self.slot, lsn=lsn, changes=0, commit_at=None)
        return True

    async def step(self, conn) -> Batch:
        upto = await CDC.flush_lsn(conn)
        rows = [(r["lsn"], r["data"])
                async for r in CDC.peek_changes(conn, slot=self.slot, upto=upto, n=self.batch_rows)]
        batch = parse(rows)
        if batch.changes:
            self._maybe_crash("before_apply")
            skus = sorted(batch.skus)
            async with conn.transaction():
                await CDC.index_skus(conn, all=batch.resync_all, skus=skus)
                await CDC.unindex_deleted(conn, all=batch.resync_all, skus=skus)
                await CDC.save_progress(conn, slot=self.slot, lsn=batch.last_commit_lsn or upto,
                                        changes=batch.changes, commit_at=batch.last_commit_at)
            self._maybe_crash("after_apply")   # applied, not acknowledged: the worst moment to die
            self.batches += 1
            self.changes += batch.changes
        ack = upto if len(rows) < self.batch_rows else batch.last_commit_lsn
        if ack:
            await CDC.advance_slot(conn, slot=self.slot, lsn=ack)
        return batch

    async def _flushed(self, conn) -> None:
        """Flush the WAL written so far, so the next peek sees the change that woke us (with
        synchronous_commit off, the WAL writer would flush it only within a few hundred ms)."""
        await CDC.flush_wal(conn)

    def _maybe_crash(self, point: str) -> None:
        if self.crash_at == point:
            log.warning("crash fault at %s: exiting", point)
            os._exit(CRASH_EXIT)

    async def run_forever(self) -> None:
        backoff = RETRY_S
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
                try:
                    await conn.add_listener(CHANNEL, lambda *_: self.wake.set())
                    await self.ensure_slot(conn)
                    while True:
                        batch = await self.step(conn)
                        self.last_error, backoff = None, RETRY_S
                        if batch.rows < self.batch_rows:
                            await nap(self.wake, IDLE_FALLBACK_S)
                            await self._flushed(conn)
                finally:
                    await conn.close(timeout=2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # noqa: BLE001 - log, back off, reconnect: the relay must not die
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("relay error, retrying: %s", self.last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
