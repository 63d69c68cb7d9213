"""Events: the outbox relay (PostgreSQL → Redis Streams) and idempotent consumers (consumer groups).

Redis Streams stands in for Kafka: one stream, consumer groups per consumer, explicit acks, and pending
entries reclaimed from a consumer that died (XAUTOCLAIM), so at-least-once delivery holds across crashes.
Exactly-once *effects* come from the consumer recording the event id in the same transaction as its effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time

from scenarios.policy import CONSUMER_PAUSE_S, RECLAIM_IDLE_MS

STREAM = "lastunit:events"
#: Relay poll interval: an event reaches the stream within about this after its commit.
RELAY_POLL_S = 0.02
RELAY_BATCH = 200
#: Published events are kept this long (sequence diagrams and post-mortems read them), then pruned.
OUTBOX_RETENTION_S = 3600
#: A consumer remembers an event id this long: far past any redelivery (reclaim happens within seconds).
DEDUP_RETENTION_S = 86400
PRUNE_EVERY_S = 60.0
log = logging.getLogger("lastunit.bus")


async def publish(conn, topic: str, payload: dict) -> None:
    """Write an event in the caller's transaction (the outbox half)."""
    await conn.execute("INSERT INTO outbox (topic, payload) VALUES ($1, $2::jsonb)", topic,
                       json.dumps(payload, default=str))


async def relay_once(pool, redis, source: str) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch("SELECT id, topic, payload FROM outbox WHERE published_at IS NULL ORDER BY id "
                                "LIMIT $1 FOR UPDATE SKIP LOCKED", RELAY_BATCH)
        if not rows:
            return 0
        async with redis.pipeline(transaction=False) as p:
            for r in rows:
                p.xadd(STREAM, {"id": f"{source}:{r['id']}", "topic": r["topic"], "payload": r["payload"]})
            await p.execute()
        await conn.execute("UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])",
                           [r["id"] for r in rows])
    return len(rows)


async def prune(pool) -> None:
    """Keep the outbox and the de-duplication table from growing without bound on a long-lived stack."""
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM outbox WHERE published_at < clock_timestamp() - make_interval(secs => $1)",
                           float(OUTBOX_RETENTION_S))
        await conn.execute("DELETE FROM processed_events WHERE processed_at < clock_timestamp() "
                           "- make_interval(secs => $1)", float(DEDUP_RETENTION_S))


async def relay_forever(pool, redis, source: str) -> None:
    last_prune = 0.0
    while True:
        if time.monotonic() - last_prune > PRUNE_EVERY_S:
            last_prune = time.monotonic()
            with contextlib.suppress(Exception):
                await prune(pool)
        try:
            if await relay_once(pool, redis, source) < RELAY_BATCH:
                await asyncio.sleep(RELAY_POLL_S)
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - a relay that stops is an outage; log and go on
            log.exception("relay failed; retrying")
            await asyncio.sleep(0.5)


async def _ensure_group(redis, group: str) -> None:
    with contextlib.suppress(Exception):   # BUSYGROUP: it exists
        await redis.xgroup_create(STREAM, group, id="0", mkstream=True)


async def _handle(pool, group: str, entry_id, fields: dict, handlers: dict) -> None:
    topic = fields[b"topic"].decode()
    handler = handlers.get(topic)
    if handler is not None:
        event_id = fields[b"id"].decode()
        payload = json.loads(fields[b"payload"])
        async with pool.acquire() as conn, conn.transaction():
            fresh = await conn.fetchval("INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) "
                                        "ON CONFLICT DO NOTHING RETURNING true", group, event_id)
            if fresh:
                await handler(conn, payload)


async def consume_forever(pool, redis, group: str, handlers: dict) -> None:
    """Run `handlers[topic](conn, payload)` once per event, inside the transaction that records it."""
    await _ensure_group(redis, group)
    me = f"{group}-{os.getpid()}"
    while True:
        try:
            _, claimed, _ = await redis.xautoclaim(STREAM, group, me, RECLAIM_IDLE_MS, "0-0", count=50)
            batch = [(STREAM, claimed)] if claimed else await redis.xreadgroup(
                group, me, {STREAM: ">"}, count=50, block=200) or []
            for _, entries in batch:
                for entry_id, fields in entries:
                    if not fields:
                        continue
                    await _handle(pool, group, entry_id, fields, handlers)
                    await redis.xack(STREAM, group, entry_id)
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - the entry stays pending and is retried
            log.exception("consumer %s failed on an event; it will be retried", group)
            await asyncio.sleep(CONSUMER_PAUSE_S)
