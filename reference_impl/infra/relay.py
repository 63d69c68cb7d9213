"""The outbox relay: each database's outbox (PostgreSQL) onto the Redis Streams of the groups that handle
each event (`reference_impl.topics`), in outbox order.

One relay per database leads (a session advisory lock on its own connection; the others, in a service's
other processes, stand by and try again every IDLE_FALLBACK_S, so a leader that dies is replaced within
that). The leader sleeps until an event is committed (the outbox's trigger notifies `lastunit_outbox`, which
it LISTENs to on the same connection), then runs one statement per round: mark the last round's events
published and read the next batch (sql/relay.sql `relay_round`), and XADDs the batch in one pipeline.
Marking a batch only in the round after its XADD costs nothing when events keep coming, and a crash in
between sends the batch again: at-least-once, which the consumers' de-duplication makes exactly-once in
effect. Every PRUNE_EVERY_S it prunes the outbox and the de-duplication table past the retention
(`bus.prune_on`) and trims the streams (`bus.trim_streams`: only entries every group acked). Awake, it asks
every EPOCH_CHECK_S whether Redis restarted (`bus.redis_epoch_on`: what a new run of Redis did not keep
goes out again); for a while after it last published it wakes that often even with nothing to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from reference_impl.infra import bus
from reference_impl.infra.wake import nap
from scenarios.policy import IDLE_FALLBACK_S, PRUNE_EVERY_S

#: Events per round (and per XADD pipeline).
BATCH = 200
#: After a round that sent events the leader waits this long before the next, so that under load one round
#: carries many events (and the last round's marks) instead of one round each (a round is ~0.5 ms of CPU
#: across the relay, PostgreSQL and Redis); idle, an event goes at once. At most this much per bus leg.
MIN_GAP_S = 0.02
#: A round's events are marked published by the next round; with nothing more coming, that round runs
#: after this pause anyway. Long enough that under any load the mark rides with the next events (one
#: statement per round, not two), short enough that `published_at` is never unset for long.
LINGER_S = 0.5
#: How often the leader asks whether Redis restarted while events it published may still be unread.
EPOCH_CHECK_S = 1.0
#: ... which it assumes for this long after it last published (Redis keeps the last second on disk at most).
RECENT_S = 10.0
#: After losing the connection (the database restarting): wait, doubling up to RETRY_MAX_S.
RETRY_S, RETRY_MAX_S = 0.2, 5.0
log = logging.getLogger("lastunit.relay")


class Relay:
    def __init__(self, dsn: str, redis, source: str):
        self.dsn, self.redis, self.source = dsn, redis, source
        self.wake = asyncio.Event()
        self.sent = 0

    async def run_forever(self) -> None:
        backoff = RETRY_S
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn)
                while not await bus.Q.lead_relay(conn):
                    await asyncio.sleep(IDLE_FALLBACK_S)         # standing by: another process leads
                await conn.add_listener(bus.CHANNEL, lambda *_: self.wake.set())
                backoff = RETRY_S
                await self._lead(conn)
            except asyncio.CancelledError:
                raise
            except Exception:   # noqa: BLE001 - a relay that stops is an outage: log, back off, reconnect
                log.exception("%s relay failed; reconnecting in %.1f s", self.source, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)

    async def _lead(self, conn) -> None:
        done: list[int] = []
        stream_ids: list[str] = []
        epoch = await bus.redis_epoch_on(conn, self.redis, None)
        last_prune = last_check = time.monotonic()
        last_sent = -RECENT_S
        while True:
            now = time.monotonic()
            if now - last_prune > PRUNE_EVERY_S:
                last_prune = now
                await bus.prune_on(conn)
                await bus.trim_streams(self.redis)
            if now - last_check > EPOCH_CHECK_S:
                last_check, was = now, epoch
                epoch = await bus.redis_epoch_on(conn, self.redis, epoch)
                if epoch != was:
                    done, stream_ids = [], []   # taken by a Redis that is gone: republish_lost has them
            rows = [r async for r in bus.Q.relay_round(conn, done=done, stream_ids=stream_ids, epoch=epoch,
                                                       batch=BATCH)]
            done = [r["id"] for r in rows]
            stream_ids = await bus.xadd(self.redis, self.source, rows) if rows else []
            if rows:
                self.sent, last_sent = self.sent + len(rows), time.monotonic()
                if len(rows) == BATCH:
                    continue
                await asyncio.sleep(MIN_GAP_S)
            recent = time.monotonic() - last_sent < RECENT_S
            await nap(self.wake, LINGER_S if done else EPOCH_CHECK_S if recent else IDLE_FALLBACK_S)


async def relay_forever(dsn: str, redis, source: str) -> None:
    """Publish this database's outbox: lead when no other process does, stand by otherwise."""
    await Relay(dsn, redis, source).run_forever()
