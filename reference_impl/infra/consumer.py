"""An idempotent consumer of the bus: one consumer group per service, on its own stream (the relays append
there only the topics it handles, `reference_impl.topics`), several events at once, each order's events in
the order they came.

- One blocking XREADGROUP per batch (no CPU while nothing comes; an event wakes it at once); an event of a
  topic this consumer does not handle (one routed to it with no handler) is acked, never dispatched.
- Events are spread over `lanes` by a hash of their order id: a lane runs its events one after another,
  the lanes run side by side. So a slow event (a label that takes 300 ms, a provider call) holds up only
  the orders that share its lane, never the whole stream, and one order's events keep their order.
- Each event runs `handlers[topic](conn, payload, dedup)`; the handler records `dedup` (consumer, event
  id) in the very statement or transaction of its database effect (`bus.Dedup`), so a redelivery finds the
  id and changes nothing: effects happen once. No transaction is opened for it here: most handlers' effect
  is one statement (the mark, the change and its outbox event together), which saves three round trips.
- Acks ride with the next read (XACK and XREADGROUP in one pipeline: one round trip, where each delivery
  used to cost a read and an ack); what finished while the reader is blocked goes out after ACK_LINGER_S
  on its own. An event whose handler failed is not acked: it stays
  pending and is reclaimed (XAUTOCLAIM, on a timer) once idle RECLAIM_IDLE_MS, as is everything a
  consumer that died had read. Entries this process is still working on are never started twice here.
- A Redis that restarted without the group (NOGROUP) gets it made again, from the stream's start: the
  relays publish again what that Redis lost, and de-duplication absorbs what it kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib

import orjson
from redis.exceptions import ResponseError

from reference_impl.infra import bus
from reference_impl.topics import ROUTES
from scenarios.policy import CONSUMER_PAUSE_S, RECLAIM_EVERY_S, RECLAIM_IDLE_MS

#: A consumer blocks this long in XREADGROUP per call (no CPU while it waits); an event wakes it at once.
#: Under redis-py's default socket timeout (5 s), which would otherwise cut a longer block short as an error.
BLOCK_MS = 2000
#: Events read per call, and at most this many read and not yet finished per process (back pressure).
READ_COUNT = 64
MAX_IN_FLIGHT = 128
#: Acks wait this long for a read to ride with before going out alone: under load the next read comes
#: sooner (an event every few ms), idle they go out at once after it; far below RECLAIM_IDLE_MS.
ACK_LINGER_S = 0.05
log = logging.getLogger("lastunit.consumer")


def _order_key(payload: dict, event_id: str) -> str:
    return str(payload.get("order_id") or payload.get("id") or event_id)


def _entry_order(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def unrouted(group: str, handlers: dict, routes: dict) -> list[str]:
    """Topics `handlers` handles that the routes never send to `group`: a handler that would never run."""
    return sorted(t for t in handlers if group not in routes.get(t, ()))


class Consumer:
    def __init__(self, pool, redis, group: str, handlers: dict, lanes: int = 8, routes: dict = ROUTES):
        if missing := unrouted(group, handlers, routes):
            raise ValueError(f"consumer {group!r} handles {', '.join(missing)}, which the bus does not route to "
                             f"it: add the group to those topics in reference_impl/topics.py")
        self.pool, self.redis, self.group, self.handlers = pool, redis, group, handlers
        self.stream = bus.stream(group)
        self.me = f"{group}-{os.getpid()}"
        self.lanes = [asyncio.Queue() for _ in range(max(1, lanes))]
        self.in_flight: set[bytes] = set()
        self.room = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.acks: list[bytes] = []
        self.ack_due = asyncio.Event()

    async def _ensure_group(self) -> None:
        with contextlib.suppress(Exception):   # BUSYGROUP: it exists
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)

    async def run(self) -> None:
        await self._ensure_group()
        tasks = [asyncio.create_task(self._lane(q)) for q in self.lanes]
        tasks += [asyncio.create_task(self._acker()), asyncio.create_task(self._reclaim_forever())]
        try:
            await self._read_forever()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_forever(self) -> None:
        while True:
            try:
                await self.room.acquire()            # wait for room for at least one more event
                self.room.release()
                acks, self.acks = self.acks, []
                try:
                    got = await self._read(acks)
                except BaseException:
                    self.acks[:0] = acks                 # not sent: they go with the next try
                    raise
                await self._dispatch([e for _, es in got or [] for e in es])
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # noqa: BLE001 - Redis away: what was read stays pending and is reclaimed
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    await self._ensure_group()       # Redis restarted without it: read the stream from the start
                else:
                    log.exception("consumer %s: read failed; retrying", self.group)
                await asyncio.sleep(CONSUMER_PAUSE_S)

    async def _read(self, acks: list[bytes]):
        if not acks:
            return await self.redis.xreadgroup(self.group, self.me, {self.stream: ">"}, count=READ_COUNT,
                                               block=BLOCK_MS)
        async with self.redis.pipeline(transaction=False) as p:
            p.xack(self.stream, self.group, *acks)
            p.xreadgroup(self.group, self.me, {self.stream: ">"}, count=READ_COUNT, block=BLOCK_MS)
            return (await p.execute())[1]

    async def _reclaim_forever(self) -> None:
        while True:
            await asyncio.sleep(RECLAIM_EVERY_S)
            try:
                _, claimed, _ = await self.redis.xautoclaim(self.stream, self.group, self.me, RECLAIM_IDLE_MS,
                                                            "0-0", count=READ_COUNT)
                await self._dispatch(claimed)
            except asyncio.CancelledError:
                raise
            except Exception:   # noqa: BLE001 - next timer tick tries again (a NOGROUP: the reader remakes it)
                log.exception("consumer %s: reclaim failed", self.group)

    async def _dispatch(self, entries: list) -> None:
        """Each entry into its order's lane, oldest first; entries this process already works on are left,
        and topics it does not handle are acked at once."""
        for entry_id, fields in sorted(entries, key=lambda e: _entry_order(e[0])):
            if entry_id in self.in_flight:
                continue
            handler = self.handlers.get(fields[b"topic"].decode()) if fields else None
            if handler is None:                       # not ours, or deleted from the stream (trimmed)
                self._ack(entry_id)
                continue
            await self.room.acquire()
            self.in_flight.add(entry_id)
            event_id, payload = fields[b"id"].decode(), orjson.loads(fields[b"payload"])
            lane = zlib.crc32(_order_key(payload, event_id).encode()) % len(self.lanes)
            self.lanes[lane].put_nowait((entry_id, handler, event_id, payload))

    async def _lane(self, queue: asyncio.Queue) -> None:
        while True:
            entry_id, handler, event_id, payload = await queue.get()
            try:
                async with self.pool.acquire() as conn:
                    await handler(conn, payload, bus.Dedup(self.group, event_id))
                self._ack(entry_id)
            except asyncio.CancelledError:
                raise
            except Exception:   # noqa: BLE001 - not acked: the entry stays pending and is reclaimed
                log.exception("consumer %s failed on %s; it will be retried", self.group, event_id)
            finally:
                self.in_flight.discard(entry_id)
                self.room.release()

    def _ack(self, entry_id: bytes) -> None:
        self.acks.append(entry_id)
        self.ack_due.set()

    async def _acker(self) -> None:
        """Acks no read took along within ACK_LINGER_S, in one batch."""
        while True:
            await self.ack_due.wait()
            await asyncio.sleep(ACK_LINGER_S)
            self.ack_due.clear()
            acks, self.acks = self.acks, []
            if not acks:
                continue
            try:
                await self.redis.xack(self.stream, self.group, *acks)
            except asyncio.CancelledError:
                raise
            except Exception:   # noqa: BLE001 - unacked entries are reclaimed and found already processed
                log.exception("consumer %s: ack failed", self.group)


async def consume_forever(pool, redis, group: str, handlers: dict, routes: dict = ROUTES) -> None:
    """Run `handlers[topic](conn, payload, dedup)` for each event routed to `group` (each handler records
    `dedup` with its effect); as many events at once as the pool has connections, each order's in order."""
    await Consumer(pool, redis, group, handlers, lanes=pool.get_max_size(), routes=routes).run()
