"""The running scenario as services see it: its knobs, and the named fault points fired as it asks.

`lastunit run` writes the scenario (faults and knobs such as payment.idempotency) to one Redis key; each
service reads it at its fault points and decisions from a copy it keeps. A change is announced on a Redis
channel: every service's watcher drops its copy and acknowledges, and the writer returns once all have, so
the next request anywhere runs under the new faults (a label meant to fail must not ship because shipping
read "no faults" just before). The copy is also re-read every REFRESH_S, which carries the lease's renewed
expiry and covers a watcher re-subscribing after a Redis restart. `crash` is a real process exit (the
supervisor restarts us); `drop_reply` lets the work finish and then never answers, so the caller sees what
a lost reply looks like: a timeout, effect unknown.

Faults die with their run: the key names its run and carries an expiry (a Redis TTL, and the same instant
in the value), which the run's driver renews while it runs (`Lease`). A driver that dies, or a Redis that
brings the key back from its files after a crash, leaves faults no run owns: services ignore them, Redis
drops them, and `lastunit up` deletes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
import time
import uuid

from reference_impl.infra.http import ApiError, DropReply
from scenarios.faults import FaultAction, FaultPoint, decide
from scenarios.spec import Fault

RUN_KEY = "lastunit:run"
FIRED_KEY = "lastunit:faults:fired"
#: Where a change of RUN_KEY is announced (the message is the change's id) and where each watcher answers.
RUN_CHANNEL = "lastunit:run:changed"
ACK_PREFIX = "lastunit:run:ack:"
#: A service re-reads the scenario at least this often without being told (the lease's new expiry); at most
#: RUN_RENEW_S, so a copy never holds an expiry older than one renewal.
REFRESH_S = 1.0
#: How long the writer waits for one watcher's answer: by then that service's copy has aged out anyway.
ACK_WAIT_S = REFRESH_S + 1.0
#: Exit code of an injected crash, so logs tell it apart from a real one.
CRASH_EXIT = 86
#: A run's scenario outlives its driver by at most this; the driver renews it every RUN_RENEW_S, so a
#: Redis restart (which loses or restores the key) costs at most one renewal's worth of faults.
RUN_LEASE_S = 5.0
RUN_RENEW_S = 1.0
#: Faults set by hand (a notebook cell, a test) have nobody renewing them: long enough for a cell's work.
MANUAL_LEASE_S = 300.0

log = logging.getLogger("lastunit.run_config")


def owned(run: dict, now: float | None = None) -> bool:
    """True while a run owns this scenario: it names its run and its lease has not run out. A key from
    before leases (no run id), or one a restarted Redis restored after its time, is nobody's."""
    return bool(run.get("run_id")) and float(run.get("expires_at", 0)) > (time.time() if now is None else now)


class RunConfig:
    def __init__(self, redis, service: str):
        self.redis, self.service = redis, service
        self._cache: tuple[float, dict] = (-1e9, {})
        self._epoch = 0          # moves on every drop, so a read begun before a change cannot be kept

    def forget(self) -> None:
        self._epoch += 1
        self._cache = (-1e9, {})

    async def current(self) -> dict:
        at, run = self._cache
        if time.monotonic() - at > REFRESH_S:
            epoch = self._epoch
            raw = await self.redis.get(RUN_KEY)
            run = json.loads(raw) if raw else {}
            if epoch == self._epoch:
                self._cache = (time.monotonic(), run)
        if not owned(run):
            return {}
        return run

    async def watch(self) -> None:
        """A background task: drop the copy whenever a change is announced, then answer the writer. The
        copy is dropped on every (re)subscription too, since changes may have gone by unheard meanwhile."""
        while True:
            try:
                async with self.redis.pubsub() as ps:
                    await ps.subscribe(RUN_CHANNEL)
                    self.forget()
                    while True:
                        msg = await ps.get_message(ignore_subscribe_messages=True, timeout=None)
                        if msg is None:
                            continue
                        self.forget()
                        ack = ACK_PREFIX + msg["data"].decode()
                        async with self.redis.pipeline(transaction=False) as p:
                            await p.rpush(ack, os.getpid()).expire(ack, 60).execute()
            except asyncio.CancelledError:
                raise
            except Exception as e:   # noqa: BLE001 - Redis restarting: the copy ages out meanwhile
                log.warning("%s: run-config watcher lost Redis (%s); re-subscribing", self.service, e)
                await asyncio.sleep(REFRESH_S)

    async def knob(self, section: str, name: str, default):
        return (await self.current()).get(section, {}).get(name, default)

    async def _faults(self) -> list[dict]:
        return (await self.current()).get("faults", [])

    async def at(self, point: FaultPoint, defer_drop: bool = False) -> bool:
        """Fire `point` if a fault is set there and its dice say so. Returns True when a reply is to be
        dropped and `defer_drop` asked to decide later (the work must finish first)."""
        d = decide([Fault(FaultPoint(f["point"]), FaultAction(f["action"]), f.get("probability", 1.0),
                          f.get("delay_ms", 0)) for f in await self._faults()], point, random.random)
        for name in d.fired:
            await self.redis.hincrby(FIRED_KEY, name, 1)
        if d.delay_s:
            await asyncio.sleep(d.delay_s)
        if d.action is FaultAction.CRASH:
            os._exit(CRASH_EXIT)
        if d.action is FaultAction.ERROR:
            raise ApiError(503, "injected_fault", f"fault {point.value}: error")
        if d.action is FaultAction.DROP_REPLY:
            if defer_drop:
                return True
            raise DropReply(point.value)
        return False


def _write(redis, run: dict, run_id: str, lease_s: float) -> None:
    body = {**run, "run_id": run_id, "expires_at": time.time() + lease_s}
    redis.set(RUN_KEY, json.dumps(body, default=str), px=int(lease_s * 1000))


def set_run(redis, run: dict | None, run_id: str = "manual", lease_s: float = MANUAL_LEASE_S) -> None:
    """Install a scenario's faults and knobs for every service (None clears them), owned by `run_id` for
    `lease_s`, and return once every service has dropped its old copy. Sync: the CLI's side."""
    redis.delete(FIRED_KEY)
    if run:
        _write(redis, run, run_id, lease_s)
    else:
        redis.delete(RUN_KEY)
    announce(redis)


def announce(redis) -> int:
    """Tell every watching service that RUN_KEY changed; wait for each one's answer (PUBLISH counts the
    watchers it reached), at most ACK_WAIT_S each. Returns how many answered."""
    change = uuid.uuid4().hex
    told = redis.publish(RUN_CHANNEL, change)
    answered = 0
    while answered < told and redis.blpop([ACK_PREFIX + change], timeout=ACK_WAIT_S):
        answered += 1
    redis.delete(ACK_PREFIX + change)
    return answered


def clear_run(redis) -> None:
    """Whatever scenario Redis holds, gone: what `lastunit up` does, since no run goes on across an `up`
    (a live run's driver puts its own back at its next renewal)."""
    redis.delete(RUN_KEY, FIRED_KEY)
    announce(redis)


class Lease:
    """A run's scenario in Redis for as long as the block lasts: installed on entry, renewed every
    RUN_RENEW_S from a thread (and so put back after a Redis restart lost it), cleared on exit."""

    def __init__(self, redis, run: dict, run_id: str):
        self.redis, self.run, self.run_id = redis, run, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{run_id}", daemon=True)

    def _renew(self) -> None:
        while not self._stop.wait(RUN_RENEW_S):
            try:
                _write(self.redis, self.run, self.run_id, RUN_LEASE_S)
            except Exception:   # noqa: BLE001 - Redis down (a nemesis): the next renewal tries again
                continue

    def change(self, run: dict) -> None:
        self.run = run
        set_run(self.redis, run, self.run_id, RUN_LEASE_S)

    def __enter__(self) -> Lease:
        set_run(self.redis, self.run, self.run_id, RUN_LEASE_S)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        set_run(self.redis, None)


def fired(redis) -> dict[str, int]:
    """How often each fault fired since `set_run`, keyed `point:action`."""
    return {k.decode(): int(v) for k, v in redis.hgetall(FIRED_KEY).items()}
