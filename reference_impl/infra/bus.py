"""Events: the outbox relay (PostgreSQL → Redis Streams) and idempotent consumers (consumer groups).

Redis Streams stands in for Kafka: a stream per consumer group (`stream(group)`; the relay appends each event
to the streams of the groups that handle its topic, `reference_impl.topics`, like a topic a Kafka consumer
subscribes to), explicit acks, and pending entries reclaimed from a consumer that died (XAUTOCLAIM), so
at-least-once delivery holds across crashes.
Exactly-once *effects* come from the consumer recording the event id in the same statement or transaction
as its effect (`Dedup`).

Nothing here polls on a short timer: writing an event notifies the relay at its commit (outbox.sql's
trigger; LISTEN/NOTIFY), consumers block in XREADGROUP, and the reclaim of a dead consumer's entries runs
on its own timer (`infra.relay.relay_forever`, `infra.consumer.consume_forever`). The SQL is in `sql/bus.sql` and `sql/relay.sql`.

A Redis that restarts may come back without the newest entries (no persistence, or the last second of an
append-only file) and without the consumer groups: each relay notices the new run of Redis and publishes
again what it lost (`redis_epoch`), and a consumer whose group is gone makes it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources

import aiosql
import orjson

from reference_impl.topics import ROUTES
from scenarios.policy import RETENTION_S

Q = aiosql.from_path(str(resources.files("reference_impl.infra") / "sql"), "asyncpg", mandatory_parameters=False)

#: The streams' common prefix: group G reads `lastunit:events:G`.
STREAM = "lastunit:events"
#: The relay's wake-up channel (outbox.sql's trigger notifies it for every event written).
CHANNEL = "lastunit_outbox"
RELAY_BATCH = 200
log = logging.getLogger("lastunit.bus")


def stream(group: str) -> str:
    return f"{STREAM}:{group}"


async def streams(redis) -> list[str]:
    """Every group's stream Redis holds now."""
    return sorted([k.decode() async for k in redis.scan_iter(match=f"{STREAM}:*", _type="stream")])


@dataclass(frozen=True)
class Dedup:
    """Which consumer is handling which event. A handler writes it to processed_events in the statement (or
    transaction) of its database effect (`dedup_params` into a CTE, or `first_time` first in a transaction),
    so the effect happens once however often the event is delivered; a handler whose only effect is a
    keyed, idempotent call elsewhere needs nothing recorded."""
    consumer: str
    event_id: str


def dedup_params(dedup: Dedup | None) -> dict:
    return {"consumer": dedup.consumer if dedup else None, "event_id": dedup.event_id if dedup else None}


async def first_time(conn, dedup: Dedup) -> bool:
    """Record the event inside the caller's transaction: True the first time, False for a redelivery (a twin
    delivery still in flight makes this wait for it)."""
    return bool(await Q.mark_processed(conn, **dedup_params(dedup)))


def dumps(payload: dict) -> str:
    return orjson.dumps(payload, default=str).decode()


async def publish(conn, topic: str, payload: dict) -> None:
    """Write an event in the caller's transaction (the outbox half); the relay is woken at commit."""
    await Q.publish(conn, topic=topic, payload=dumps(payload))


async def relay_once(pool, redis, source: str, epoch: str | None = None, routes=ROUTES) -> int:
    """One batch published and marked in one transaction, whoever leads (tests and tools; the services'
    relay is `infra.relay`)."""
    async with pool.acquire() as conn, conn.transaction():
        rows = [r async for r in Q.claim_unpublished(conn, n=RELAY_BATCH)]
        if not rows:
            return 0
        stream_ids = await xadd(redis, source, rows, routes)
        await Q.mark_published(conn, ids=[r["id"] for r in rows], epoch=epoch, stream_ids=stream_ids)
    return len(rows)


async def xadd(redis, source: str, rows, routes=ROUTES) -> list[str | None]:
    """Outbox rows onto the streams of the groups their topics go to, in one pipeline; per row, the entry id
    it became in the first of them (None: no group handles the topic, so it stays in the outbox only)."""
    firsts: list[int | None] = []
    n = 0
    async with redis.pipeline(transaction=False) as p:
        for r in rows:
            groups = routes.get(r["topic"], ())
            firsts.append(n if groups else None)
            for g in groups:
                p.xadd(stream(g), {"id": f"{source}:{r['id']}", "topic": r["topic"], "payload": r["payload"]})
                n += 1
        ids = await p.execute() if n else []
    return [None if i is None else (ids[i].decode() if isinstance(ids[i], bytes) else ids[i]) for i in firsts]


async def redis_epoch(pool, redis, known: str | None) -> str:
    async with pool.acquire() as conn:
        return await redis_epoch_on(conn, redis, known)


async def redis_epoch_on(conn, redis, known: str | None) -> str:
    """The run of Redis now serving (its INFO run_id, new at every start). When it differs from `known`,
    publish again what the earlier run took and this one did not keep: every row newer than the newest
    entry this run holds from before it started (minus a second, as its uptime counts whole seconds), in
    whichever group's stream holds the least (every row goes to the streams of one pipeline at once, so
    this may send a few kept rows again, never keep a lost one: consumers de-duplicate)."""
    info = await redis.info("server")
    epoch = info["run_id"]
    if epoch == known:
        return epoch
    now_s, _ = await redis.time()
    started_ms = (int(now_s) - int(info["uptime_in_seconds"]) - 1) * 1000
    newest = []
    for name in await streams(redis):
        kept = await redis.xrevrange(name, max=str(max(started_ms - 1, 0)), min="-", count=1)
        if kept:
            newest.append(tuple(int(x) for x in kept[0][0].decode().split("-")))
    ms, seq = min(newest) if newest else (0, 0)
    lost = await Q.republish_lost(conn, epoch=epoch, kept_ms=int(ms), kept_seq=int(seq))
    if lost:
        log.warning("redis restarted without %d published event(s): publishing them again", lost)
    return epoch


async def prune(pool) -> int:
    async with pool.acquire() as conn:
        return await prune_on(conn)


async def prune_on(conn) -> int:
    """Keep the outbox and the de-duplication table from growing without bound on a long-lived stack:
    what is older than the retention (policy.RETENTION_S) goes. Returns how many rows went."""
    return (await Q.prune_outbox(conn, keep_s=RETENTION_S)) + (await Q.prune_processed(conn, keep_s=RETENTION_S))


def _ms(entry_id) -> int:
    return int((entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)).partition("-")[0])


async def trim_streams(redis, keep_s: float = RETENTION_S) -> None:
    for name in await streams(redis):
        await trim_stream(redis, name, keep_s)


async def trim_stream(redis, stream: str, keep_s: float = RETENTION_S) -> None:
    """Drop a stream's entries older than `keep_s` that every consumer group has been given and acked: an
    entry still to deliver or still pending is never dropped, however old."""
    bound = int((time.time() - keep_s) * 1000)
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception:   # noqa: BLE001 - no such stream yet
        return
    for g in groups:
        bound = min(bound, _ms(g["last-delivered-id"]))
        if g["pending"]:
            bound = min(bound, _ms((await redis.xpending(stream, g["name"]))["min"]))
    if bound > 0:
        await redis.xtrim(stream, minid=f"{bound}-0", approximate=False)
