"""An idempotent consumer of the bus: one consumer group per service, several events at once, each order's
events in the order they came.

- Each topic has its own stream (`bus.stream_of`); a group reads only the topics it handles, in one
  blocking XREADGROUP (no CPU while nothing comes; an event wakes it at once).
- Events are spread over `lanes` by a hash of their order id: a lane runs its events one after another,
  the lanes run side by side. So a slow event (a label that takes 300 ms, a provider call) holds up only
  the orders that share its lane, never the whole stream, and one order's events keep their order.
- Each event runs `handlers[topic](conn, payload, dedup)`; the handler records `dedup` (consumer, event
  id) in the very statement or transaction of its database effect (`bus.Dedup`), so a redelivery finds the
  id and changes nothing: effects happen once. No transaction is opened for it here: most handlers' effect
  is one statement (the mark, the change and its outbox event together), which saves three round trips.
- Acks go out in batches (one pipeline per burst). An event whose handler failed is not acked: it stays
  pending and is reclaimed (XAUTOCLAIM, on a timer) once idle RECLAIM_IDLE_MS, as is everything a
  consumer that died had read. Entries this process is still working on are never started twice here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib

import orjson

from reference_impl.infra import bus
from reference_impl.policy import RECLAIM_EVERY_S, RECLAIM_IDLE_MS

#: A consumer blocks this long in XREADGROUP per call (no CPU while it waits); an event wakes it at once.
#: Under redis-py's default socket timeout (5 s), which would otherwise cut a longer block short as an error.
BLOCK_MS = 2000
#: Events read per call, and at most this many read and not yet finished per process (back pressure).
READ_COUNT = 64
MAX_IN_FLIGHT = 128
#: After a failed read (Redis restarting) a consumer waits this long before it reads again.
READ_RETRY_S = 0.2
log = logging.getLogger("lastunit.consumer")


def _order_key(payload: dict, event_id: str) -> str:
    return str(payload.get("order_id") or payload.get("id") or event_id)


def _entry_order(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


class Consumer:
    def __init__(self, pool, redis, group: str, handlers: dict, lanes: int = 8):
        self.pool, self.redis, self.group, self.handlers = pool, redis, group, handlers
        self.streams = {bus.stream_of(topic): topic for topic in handlers}
        self.me = f"{group}-{os.getpid()}"
        self.lanes = [asyncio.Queue() for _ in range(max(1, lanes))]
        self.in_flight: set[tuple[str, bytes]] = set()
        self.room = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.acks: dict[str, list[bytes]] = {}
        self.ack_due = asyncio.Event()

    async def run(self) -> None:
        for stream in self.streams:
            with contextlib.suppress(Exception):   # BUSYGROUP: it exists
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
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
                got = await self.redis.xreadgroup(self.group, self.me, {s: ">" for s in self.streams},
                                                  count=READ_COUNT, block=BLOCK_MS)
                await self._dispatch([(s.decode() if isinstance(s, bytes) else s, e) for s, es in got or []
                                      for e in es])
            except asyncio.CancelledError:
                raise
            except Exception:   # noqa: BLE001 - Redis away: what was read stays pending and is reclaimed
                log.exception("consumer %s: read failed; retrying", self.group)
                await asyncio.sleep(READ_RETRY_S)

    async def _reclaim_forever(self) -> None:
        while True:
            await asyncio.sleep(RECLAIM_EVERY_S)
            for stream in self.streams:
                try:
                    _, claimed, _ = await self.redis.xautoclaim(stream, self.group, self.me, RECLAIM_IDLE_MS,
                                                                "0-0", count=READ_COUNT)
                    await self._dispatch([(stream, e) for e in claimed])
                except asyncio.CancelledError:
                    raise
                except Exception:   # noqa: BLE001 - next timer tick tries again
                    log.exception("consumer %s: reclaim of %s failed", self.group, stream)

    async def _dispatch(self, entries: list) -> None:
        """Each entry into its order's lane, oldest first; entries this process already works on are left."""
        for stream, (entry_id, fields) in sorted(entries, key=lambda x: _entry_order(x[1][0])):
            if (stream, entry_id) in self.in_flight:
                continue
            if not fields:                            # deleted from the stream (trimmed): nothing to do
                self._ack(stream, entry_id)
                continue
            await self.room.acquire()
            self.in_flight.add((stream, entry_id))
            event_id, payload = fields[b"id"].decode(), orjson.loads(fields[b"payload"])
            lane = zlib.crc32(_order_key(payload, event_id).encode()) % len(self.lanes)
            self.lanes[lane].put_nowait((stream, entry_id, event_id, payload))

    async def _lane(self, queue: asyncio.Queue) -> None:
        while True:
            stream, entry_id, event_id, payload = await queue.get()
            try:
                async with self.pool.acquire() as conn:
                    await self.handlers[self.streams[stream]](conn, payload, bus.Dedup(self.group, event_id))
                self._ack(stream, entry_id)
            except asyncio.CancelledError:
                raise
            except Exception:   # noqa: BLE001 - not acked: the entry stays pending and is reclaimed
                log.exception("consumer %s failed on %s; it will be retried", self.group, event_id)
            finally:
                self.in_flight.discard((stream, entry_id))
                self.room.release()

    def _ack(self, stream: str, entry_id: bytes) -> None:
        self.acks.setdefault(stream, []).append(entry_id)
        self.ack_due.set()

    async def _acker(self) -> None:
        """Acks in batches: whatever finished while the last batch was on its way goes in the next."""
        while True:
            await self.ack_due.wait()
            self.ack_due.clear()
            acks, self.acks = self.acks, {}
            try:
                async with self.redis.pipeline(transaction=False) as p:
                    for stream, ids in acks.items():
                        p.xack(stream, self.group, *ids)
                    await p.execute()
            except asyncio.CancelledError:
                raise
            except Exception:   # noqa: BLE001 - unacked entries are reclaimed and found already processed
                log.exception("consumer %s: ack failed", self.group)
