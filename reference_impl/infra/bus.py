"""Events: the outbox relay (PostgreSQL → Redis Streams) and idempotent consumers (consumer groups).

Redis Streams stands in for Kafka: one stream, consumer groups per consumer, explicit acks, and pending
entries reclaimed from a consumer that died (XAUTOCLAIM), so at-least-once delivery holds across crashes.
Exactly-once *effects* come from the consumer recording the event id in the same transaction as its effect.

Nothing here polls on a short timer: `publish` notifies the relay in the event's own transaction (LISTEN/
NOTIFY, see `infra.wake`), consumers block in XREADGROUP, and the reclaim of a dead consumer's entries runs
on its own timer. The SQL is in `sql/bus.sql`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from importlib import resources

import aiosql
import orjson

from reference_impl.infra.wake import nap
from reference_impl.policy import IDLE_FALLBACK_S, RECLAIM_IDLE_MS

STREAM = "lastunit:events"
#: The relay's wake-up channel (sql/bus.sql `publish` notifies it).
CHANNEL = "lastunit_outbox"
RELAY_BATCH = 200
#: Under load a relay round runs at most this often: notifications that arrive meanwhile are served by one
#: round (a batch) instead of one round each. Idle, an event goes out at once.
RELAY_MIN_GAP_S = 0.005
#: Published events are kept this long (sequence diagrams and post-mortems read them), then pruned.
OUTBOX_RETENTION_S = 3600
#: A consumer remembers an event id this long: far past any redelivery (reclaim happens within seconds).
DEDUP_RETENTION_S = 86400
PRUNE_EVERY_S = 60.0
#: A consumer blocks this long in XREADGROUP per call (no CPU while it waits); an event wakes it at once.
BLOCK_MS = 5000
READ_COUNT = 50
#: How often a consumer looks for entries another consumer took and never acked (it died): an entry is
#: reclaimed once idle RECLAIM_IDLE_MS, so this bounds the extra wait to half of that.
RECLAIM_EVERY_S = RECLAIM_IDLE_MS / 2000
#: After a failed read (Redis restarting) a consumer waits this long before it reads again.
READ_RETRY_S = 0.2
log = logging.getLogger("lastunit.bus")
Q = aiosql.from_path(str(resources.files("reference_impl.infra") / "sql" / "bus.sql"), "asyncpg",
                     mandatory_parameters=False)


def dumps(payload: dict) -> str:
    return orjson.dumps(payload, default=str).decode()


async def publish(conn, topic: str, payload: dict) -> None:
    """Write an event in the caller's transaction (the outbox half); the relay is woken at commit."""
    await Q.publish(conn, topic=topic, payload=dumps(payload))


async def relay_once(pool, redis, source: str) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = sorted([r async for r in Q.claim_unpublished(conn, batch=RELAY_BATCH)], key=lambda r: r["id"])
        if rows:
            async with redis.pipeline(transaction=False) as p:
                for r in rows:
                    p.xadd(STREAM, {"id": f"{source}:{r['id']}", "topic": r["topic"], "payload": r["payload"]})
                await p.execute()
    return len(rows)


async def prune(pool) -> None:
    """Keep the outbox and the de-duplication table from growing without bound on a long-lived stack."""
    async with pool.acquire() as conn:
        await Q.prune_outbox(conn, keep_s=float(OUTBOX_RETENTION_S))
        await Q.prune_processed(conn, keep_s=float(DEDUP_RETENTION_S))


async def relay_forever(pool, redis, source: str, wake: asyncio.Event) -> None:
    """Publish the outbox whenever `wake` says a commit wrote to it (or IDLE_FALLBACK_S passed)."""
    last_prune = 0.0
    while True:
        if time.monotonic() - last_prune > PRUNE_EVERY_S:
            last_prune = time.monotonic()
            try:
                await prune(pool)
            except Exception:   # noqa: BLE001 - pruning is housekeeping: log, try next time
                log.exception("outbox prune failed")
        try:
            if await relay_once(pool, redis, source) == RELAY_BATCH:
                continue                                   # more waiting: no sleep
            await asyncio.sleep(RELAY_MIN_GAP_S)
            await nap(wake, IDLE_FALLBACK_S)
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - a relay that stops is an outage; log and go on
            log.exception("relay failed; retrying")
            await asyncio.sleep(0.5)


async def _ensure_group(redis, group: str) -> None:
    with contextlib.suppress(Exception):   # BUSYGROUP: it exists
        await redis.xgroup_create(STREAM, group, id="0", mkstream=True)


async def _handle(pool, group: str, fields: dict, handlers: dict) -> None:
    handler = handlers.get(fields[b"topic"].decode())
    if handler is not None:
        payload = orjson.loads(fields[b"payload"])
        async with pool.acquire() as conn, conn.transaction():
            if await Q.mark_processed(conn, consumer=group, event_id=fields[b"id"].decode()):
                await handler(conn, payload)


async def _work(pool, redis, group: str, entries, handlers: dict) -> None:
    for entry_id, fields in entries:
        if fields:
            await _handle(pool, group, fields, handlers)
        await redis.xack(STREAM, group, entry_id)


async def _reclaim(redis, group: str, me: str) -> list:
    """Entries another consumer read and never acked (it died, or its handler failed), now ours."""
    _, claimed, _ = await redis.xautoclaim(STREAM, group, me, RECLAIM_IDLE_MS, "0-0", count=READ_COUNT)
    return claimed


async def consume_forever(pool, redis, group: str, handlers: dict) -> None:
    """Run `handlers[topic](conn, payload)` once per event, inside the transaction that records it."""
    await _ensure_group(redis, group)
    me = f"{group}-{os.getpid()}"
    next_reclaim = 0.0
    while True:
        try:
            if time.monotonic() >= next_reclaim:
                next_reclaim = time.monotonic() + RECLAIM_EVERY_S
                await _work(pool, redis, group, await _reclaim(redis, group, me), handlers)
            block = max(1, int((next_reclaim - time.monotonic()) * 1000))
            for _, entries in await redis.xreadgroup(group, me, {STREAM: ">"}, count=READ_COUNT,
                                                     block=min(block, BLOCK_MS)) or []:
                await _work(pool, redis, group, entries, handlers)
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - the entry stays pending and is retried
            log.exception("consumer %s failed on an event; it will be retried", group)
            await asyncio.sleep(READ_RETRY_S)
