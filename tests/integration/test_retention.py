"""Pruning on real servers: what is older than the retention goes (published outbox rows, processed-event
ids, delivered webhooks with their attempts, acked stream entries); what is still to do stays, however old
(an unpublished event, an undelivered webhook, a stream entry a group has not acked)."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import redis.asyncio as aioredis

from reference_impl import stack
from reference_impl.infra import bus
from reference_impl.infra.settings import database_url
from reference_impl.psp.queries import Q as PSP
from tests.conftest import STACK

pytestmark = STACK
#: Rows this old are ours alone (the stack's own never are), pruned at a retention of KEEP_S.
OLD, KEEP_S = "clock_timestamp() - interval '10 days'", 5 * 86400.0


def _db(name: str) -> str:
    return database_url(stack.server_url("postgres"), name)


def test_the_outbox_and_processed_ids_lose_only_what_is_done_and_old(unique):
    tag = unique("keep")

    async def scenario():
        conn = await asyncpg.connect(_db("notifications"))     # an outbox no service publishes from
        try:
            ids = [await conn.fetchval("INSERT INTO outbox (topic, payload, published_at) VALUES "
                                       f"($1, '{{}}', {when}) RETURNING id", tag)
                   for when in (OLD, "NULL", "clock_timestamp()")]
            await conn.execute(f"INSERT INTO processed_events (consumer, event_id, processed_at) VALUES "
                               f"($1, 'old', {OLD}), ($1, 'new', clock_timestamp())", tag)
            await bus.Q.prune_outbox(conn, keep_s=KEEP_S)
            await bus.Q.prune_processed(conn, keep_s=KEEP_S)
            left = {r["id"] for r in await conn.fetch("SELECT id FROM outbox WHERE topic = $1", tag)}
            seen = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM processed_events "
                                                            "WHERE consumer = $1", tag)}
            return ids, left, seen
        finally:
            await conn.close()

    (old, unpublished, fresh), left, seen = asyncio.run(scenario())
    assert left == {unpublished, fresh} and seen == {"new"}


def test_a_stream_keeps_every_entry_a_group_has_not_acked():
    stream = f"lastunit:test:{secrets.token_hex(4)}"          # a stream of its own, trimmed as the bus's is

    async def scenario():
        r = aioredis.from_url(stack.server_url("redis"))
        try:
            ids = [await r.xadd(stream, {"n": n}, id=f"{1000 + n}-0") for n in range(4)]    # all "old"
            await r.xgroup_create(stream, "g", id="0")
            got = await r.xreadgroup("g", "c", {stream: ">"}, count=3)               # 3 delivered, 1 not
            await r.xack(stream, "g", ids[0])                                        # 1 acked, 2 pending
            await bus.trim_stream(r, stream, keep_s=KEEP_S)
            return ids, [e for e, _ in await r.xrange(stream)], len(got[0][1])
        finally:
            await r.delete(stream)
            await r.aclose()

    ids, left, delivered = asyncio.run(scenario())
    assert delivered == 3 and left == ids[1:]        # only the acked one went: pending and undelivered stay


def test_the_provider_prunes_delivered_webhooks_with_their_attempts_and_keeps_the_rest(unique):
    async def scenario():
        conn = await asyncpg.connect(_db("psp"))
        try:
            charge = f"ch_{secrets.token_hex(12)}"
            await conn.execute("INSERT INTO charges (id, idempotency_key, reference, amount, currency, status, "
                               "card_last4) VALUES ($1, $2, 'r', 1, 'usd', 'authorized', '4242')", charge, unique("k"))
            events = []
            for delivered in (OLD, "NULL"):
                ev = f"evt_{secrets.token_hex(12)}"
                await conn.execute("INSERT INTO events (id, type, charge_id, data, next_attempt_at, delivered_at) "
                                   f"VALUES ($1, 'payment.authorized', $2, '{{}}', clock_timestamp(), {delivered})",
                                   ev, charge)
                await conn.execute("INSERT INTO webhook_attempts (event_id, url, outcome) VALUES "
                                   "($1, 'http://x', 'failed')", ev)
                events.append(ev)
            await PSP.prune_delivered(conn, keep_s=KEEP_S, batch=1000)
            left = {r["id"] for r in await conn.fetch("SELECT id FROM events WHERE charge_id = $1", charge)}
            tried = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM webhook_attempts "
                                                             "WHERE event_id = ANY($1)", events)}
            return events, left, tried
        finally:
            await conn.close()

    (delivered, pending), left, tried = asyncio.run(scenario())
    assert left == {pending} and tried == {pending}
