"""Events: the outbox relay (PostgreSQL → Redis Streams) and idempotent consumers (consumer groups).

Redis Streams stands in for Kafka: one stream, consumer groups per consumer, explicit acks, and pending
entries reclaimed from a consumer that died (XAUTOCLAIM), so at-least-once delivery holds across crashes.
Exactly-once *effects* come from the consumer recording the event id in the same transaction as its effect.

A Redis that restarts may come back without the newest entries (no persistence, or the last second of an
append-only file) and without the consumer groups: each relay notices the new run of Redis and publishes
again what it lost (`republish_lost`), and a consumer whose group is gone makes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from importlib import resources

import aiosql
from redis.exceptions import ResponseError

from scenarios.policy import CONSUMER_PAUSE_S, RECLAIM_IDLE_MS

Q = aiosql.from_path(str(resources.files("reference_impl.infra") / "sql" / "relay.sql"), "asyncpg",
                     mandatory_parameters=False)

STREAM = "lastunit:events"
#: Relay poll interval: an event reaches the stream within about this after its commit.
RELAY_POLL_S = 0.02
RELAY_BATCH = 200
#: Published events are kept this long (sequence diagrams and post-mortems read them), then pruned.
OUTBOX_RETENTION_S = 3600
#: A consumer remembers an event id this long: far past any redelivery (reclaim happens within seconds).
DEDUP_RETENTION_S = 86400
PRUNE_EVERY_S = 60.0
#: How often a relay asks whether Redis restarted: events it lost wait at most about this to go out again.
EPOCH_CHECK_S = 1.0
log = logging.getLogger("lastunit.bus")


async def publish(conn, topic: str, payload: dict) -> None:
    """Write an event in the caller's transaction (the outbox half)."""
    await conn.execute("INSERT INTO outbox (topic, payload) VALUES ($1, $2::jsonb)", topic,
                       json.dumps(payload, default=str))


async def relay_once(pool, redis, source: str, epoch: str | None = None) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = [r async for r in Q.claim_unpublished(conn, n=RELAY_BATCH)]
        if not rows:
            return 0
        async with redis.pipeline(transaction=False) as p:
            for r in rows:
                p.xadd(STREAM, {"id": f"{source}:{r['id']}", "topic": r["topic"], "payload": r["payload"]})
            stream_ids = await p.execute()
        await Q.mark_published(conn, ids=[r["id"] for r in rows], epoch=epoch,
                               stream_ids=[s.decode() if isinstance(s, bytes) else s for s in stream_ids])
    return len(rows)


async def redis_epoch(pool, redis, known: str | None) -> str:
    """The run of Redis now serving (its INFO run_id, new at every start). When it differs from `known`,
    publish again what the earlier run took and this one did not keep: every row newer than the newest
    entry this run holds from before it started (minus a second, as its uptime counts whole seconds)."""
    info = await redis.info("server")
    epoch = info["run_id"]
    if epoch == known:
        return epoch
    now_s, _ = await redis.time()
    started_ms = (int(now_s) - int(info["uptime_in_seconds"]) - 1) * 1000
    kept = await redis.xrevrange(STREAM, max=str(max(started_ms - 1, 0)), min="-", count=1)
    kept_id = kept[0][0].decode() if kept else "0-0"
    ms, seq = kept_id.split("-")
    async with pool.acquire() as conn:
        lost = await Q.republish_lost(conn, epoch=epoch, kept_ms=int(ms), kept_seq=int(seq))
    if lost:
        log.warning("redis restarted without %d published event(s): publishing them again", lost)
    return epoch


async def prune(pool) -> None:
    """Keep the outbox and the de-duplication table from growing without bound on a long-lived stack."""
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM outbox WHERE published_at < clock_timestamp() - make_interval(secs => $1)",
                           float(OUTBOX_RETENTION_S))
        await conn.execute("DELETE FROM processed_events WHERE processed_at < clock_timestamp() "
                           "- make_interval(secs => $1)", float(DEDUP_RETENTION_S))


async def relay_forever(pool, redis, source: str) -> None:
    last_prune = last_check = 0.0
    epoch = None
    while True:
        if time.monotonic() - last_prune > PRUNE_EVERY_S:
            last_prune = time.monotonic()
            with contextlib.suppress(Exception):
                await prune(pool)
        try:
            if epoch is None or time.monotonic() - last_check > EPOCH_CHECK_S:
                epoch, last_check = await redis_epoch(pool, redis, epoch), time.monotonic()
            if await relay_once(pool, redis, source, epoch) < RELAY_BATCH:
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
        except Exception as exc:   # noqa: BLE001 - the entry stays pending and is retried
            if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                await _ensure_group(redis, group)   # Redis restarted without it: read the stream from the start
            else:
                log.exception("consumer %s failed on an event; it will be retried", group)
            await asyncio.sleep(CONSUMER_PAUSE_S)
