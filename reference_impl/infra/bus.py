"""Events: the outbox relay (PostgreSQL → Redis Streams) and idempotent consumers (consumer groups).

Redis Streams stands in for Kafka: a stream per topic (as a topic per event type), a consumer group per
consuming service, explicit acks, and pending entries reclaimed from a consumer that died (XAUTOCLAIM), so
at-least-once delivery holds across crashes.
Exactly-once *effects* come from the consumer recording the event id in the same statement or transaction
as its effect (`Dedup`).

Nothing here polls on a short timer: writing an event notifies the relay at its commit (outbox.sql's
trigger; LISTEN/NOTIFY), consumers block in XREADGROUP, and the reclaim of a dead consumer's entries runs
on its own timer (`infra.relay`, `infra.consumer`). The SQL is in `sql/bus.sql`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources

import aiosql
import orjson

from reference_impl.policy import RETENTION_S

#: Each topic's stream is this prefix + the topic: a consumer reads only the topics it handles.
STREAM_PREFIX = "lastunit:events:"
#: The relay's wake-up channel (outbox.sql's trigger notifies it for every event written).
CHANNEL = "lastunit_outbox"
log = logging.getLogger("lastunit.bus")
Q = aiosql.from_path(str(resources.files("reference_impl.infra") / "sql" / "bus.sql"), "asyncpg",
                     mandatory_parameters=False)


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


def stream_of(topic: str) -> str:
    return STREAM_PREFIX + topic


def dumps(payload: dict) -> str:
    return orjson.dumps(payload, default=str).decode()


async def publish(conn, topic: str, payload: dict) -> None:
    """Write an event in the caller's transaction (the outbox half); the relay is woken at commit."""
    await Q.publish(conn, topic=topic, payload=dumps(payload))


async def prune(pool) -> None:
    async with pool.acquire() as conn:
        await prune_on(conn)


async def prune_on(conn) -> int:
    """Keep the outbox and the de-duplication table from growing without bound on a long-lived stack:
    what is older than the retention (policy.RETENTION_S) goes. Returns how many rows went."""
    return (await Q.prune_outbox(conn, keep_s=RETENTION_S)) + (await Q.prune_processed(conn, keep_s=RETENTION_S))


def _ms(entry_id) -> int:
    return int((entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)).partition("-")[0])


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


async def relay_forever(dsn: str, redis, source: str) -> None:
    """Publish this database's outbox (see `infra.relay`)."""
    from reference_impl.infra.relay import Relay  # noqa: PLC0415 - it imports this module

    await Relay(dsn, redis, source).run_forever()


async def consume_forever(pool, redis, group: str, handlers: dict) -> None:
    """Run `handlers[topic](conn, payload, dedup)` for each event (each handler records `dedup` with its
    effect); as many events at once as the pool has connections, each order's in order (`infra.consumer`)."""
    from reference_impl.infra.consumer import Consumer  # noqa: PLC0415 - it imports this module

    await Consumer(pool, redis, group, handlers, lanes=pool.get_max_size()).run()
