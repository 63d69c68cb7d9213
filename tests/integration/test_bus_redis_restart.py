"""The bus across a Redis that restarts empty (a kill -9 with no persistence, as a nemesis does): the relay
publishes again what the new Redis does not hold, and a consumer whose group vanished makes it again and
sees every event once. Before issue 12 both were lost: the outbox said "published" and the consumers
answered NOGROUP forever, stranding every order past the payment."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from importlib import resources
from pathlib import Path

import asyncpg
import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg import sql

from reference_impl.infra import bus
from reference_impl.infra.consumer import consume_forever
from reference_impl.infra.procs import free_port, port_open, spawn_detached, stop_pid, wait_for
from reference_impl.infra.servers import redis as rd
from reference_impl.infra.settings import database_url
from tests.conftest import STACK

#: Bounds a consumer that never gets every event (the failure this test looks for): it waits on the event.
CONSUME_WAIT_S = 10.0
#: The test's own topic, routed to its own group (the shop's routes are reference_impl/topics.py).
ROUTES = {"Tested": ("tests",)}

pytestmark = STACK


@pytest.fixture
def scratch_db(pg_url):
    """A database of its own with the outbox tables, dropped after."""
    name = f"lastunit_test_bus_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(pg_url, name.removeprefix("lastunit_"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((resources.files("reference_impl.infra") / "outbox.sql").read_text())
    yield url
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


class Redis:
    """A private, non-persistent Redis that can be killed and started again on the same port."""

    def __init__(self, home: Path):
        binary, source = rd.find_binary()
        self.server = rd.RedisServer(home, binary, source, free_port(), secrets.token_urlsafe(12))
        self.proc = None

    def start(self) -> None:
        self.proc = spawn_detached(self.server.command(fast=True), self.server.home / "out.log")
        wait_for(lambda: port_open(self.server.port), 15, "the test's redis")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def private_redis(tmp_path):
    r = Redis(tmp_path)
    r.start()
    yield r
    stop_pid(r.proc.pid)


async def _republished(db_url: str, r: Redis, n: int) -> tuple[int, int]:
    """n events relayed to a Redis that is killed before anyone reads them: (rows published again after its
    restart, entries the new Redis then holds)."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    client = aioredis.from_url(r.server.url)
    try:
        async with pool.acquire() as conn:
            for i in range(n):
                await bus.publish(conn, "Tested", {"n": i})
        epoch = await bus.redis_epoch(pool, client, None)
        assert await bus.relay_once(pool, client, "test", epoch, ROUTES) == n
        r.kill()
        r.start()
        await client.connection_pool.disconnect()
        epoch = await bus.redis_epoch(pool, client, epoch)    # a new run of Redis: what did it lose?
        republished = await bus.relay_once(pool, client, "test", epoch, ROUTES)
        return republished, await client.xlen(bus.stream("tests"))
    finally:
        await client.aclose()
        await pool.close()


async def _consumed_after_restart(db_url: str, r: Redis, n: int) -> list[int]:
    """A consumer reading before Redis restarts (its group then gone), and n events after: which it saw."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    client = aioredis.from_url(r.server.url)
    seen: list[int] = []
    all_seen = asyncio.Event()

    async def handler(conn, payload, dedup):
        if await bus.first_time(conn, dedup):            # the handler records the event id with its effect
            seen.append(payload["n"])
            if len(seen) >= n:
                all_seen.set()

    consumer = asyncio.create_task(consume_forever(pool, client, "tests", {"Tested": handler}, routes=ROUTES))
    try:
        while not await client.exists(bus.stream("tests")):
            await asyncio.sleep(0.01)
        r.kill()
        r.start()
        await client.connection_pool.disconnect()     # the killed server's connections, not the test's subject
        async with pool.acquire() as conn:
            for i in range(n):
                await bus.publish(conn, "Tested", {"n": i})
        await bus.relay_once(pool, client, "test", routes=ROUTES)
        with contextlib.suppress(TimeoutError):       # what arrived by then is the answer
            await asyncio.wait_for(all_seen.wait(), CONSUME_WAIT_S)
        return seen
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await client.aclose()
        pool.terminate()                               # nothing to wait for: a consumer cancelled mid-event


#: Each scenario takes ~1 s; a hang is a failure with its place in the traceback, not pytest's 300 s timeout.
SCENARIO_TIMEOUT_S = 60


async def _bounded(coro):
    async with asyncio.timeout(SCENARIO_TIMEOUT_S):
        return await coro


def test_events_a_restarted_redis_lost_are_published_again(scratch_db, private_redis):
    assert asyncio.run(_bounded(_republished(scratch_db, private_redis, 5))) == (5, 5)


def test_a_consumer_whose_group_vanished_makes_it_again(scratch_db, private_redis):
    seen = asyncio.run(_bounded(_consumed_after_restart(scratch_db, private_redis, 5)))
    assert sorted(seen) == list(range(5))
