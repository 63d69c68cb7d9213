"""The bus's SQL on real PostgreSQL: an event wakes the relay exactly when it commits (LISTEN/NOTIFY), never
for a rolled-back one, and a consumer records an event id once however often it is delivered."""

from __future__ import annotations

import asyncio

import asyncpg
import psycopg
import pytest

from reference_impl import stack
from reference_impl.infra import bus
from reference_impl.infra.settings import database_url
from tests.conftest import STACK

pytestmark = STACK


def _dsn() -> str:
    """The notification service's database: it has an outbox but never publishes, so no service's commit
    wakes our listener while the test watches."""
    return database_url(stack.server_url("postgres"), "notifications")


def _notified(listener: psycopg.Connection) -> list[str]:
    """Notifications already delivered to `listener` (a short poll of the socket, not a wait on time)."""
    return [n.channel for n in listener.notifies(timeout=0.2, stop_after=10)]


@pytest.fixture
def listener():
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        conn.execute(f"LISTEN {bus.CHANNEL}")
        yield conn


def test_publish_wakes_the_relay_at_commit_and_never_for_a_rollback(listener, unique):
    async def scenario():
        conn = await asyncpg.connect(_dsn())
        try:
            tx = conn.transaction()
            await tx.start()
            await bus.publish(conn, "TestEvent", {"order_id": unique("o")})
            await bus.publish(conn, "TestEvent", {"order_id": unique("o")})
            before = _notified(listener)                 # written, not committed: nobody is woken
            await tx.commit()
            committed = _notified(listener)
            tx = conn.transaction()
            await tx.start()
            await bus.publish(conn, "TestEvent", {"order_id": unique("o")})
            await tx.rollback()
            return before, committed, _notified(listener)
        finally:
            await conn.close()

    before, committed, rolled_back = asyncio.run(scenario())
    assert before == [] and committed == [bus.CHANNEL] and rolled_back == []   # two events, one wake-up


def test_a_consumer_records_an_event_once(unique):
    async def scenario():
        conn = await asyncpg.connect(_dsn())
        try:
            event = unique("evt")
            return [await bus.Q.mark_processed(conn, consumer="test", event_id=event) for _ in range(3)]
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == [True, None, None]
