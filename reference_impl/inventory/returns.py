"""Hears units come back (LISTEN on the channel schema.sql's trigger notifies) and tells the sold-out memory.

Why a connection of its own: a listening session must stay open; a pooled one goes back to the pool. While
it is down the memory trusts nothing (`stop_listening`), so a missed notification can never leave a buyer
refused past the bound; it reconnects after RECONNECT_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import asyncpg

from reference_impl.inventory.soldout import SoldOutMemory

#: The trigger's channel (schema.sql: notify_stock_returned).
CHANNEL = "stock_returned"
#: After losing the connection, try again this often: the memory is off meanwhile (every ask asks the database).
RECONNECT_S = 0.5

log = logging.getLogger(__name__)


def _heard(memory: SoldOutMemory, payload: str) -> None:
    try:
        sku, warehouse = json.loads(payload)
    except (ValueError, TypeError):
        log.warning("unreadable %s payload %r: forgetting everything", CHANNEL, payload)
        memory.stop_listening()
        memory.start_listening()
        return
    memory.heard_return(sku, warehouse)


async def listen_forever(dsn: str, memory: SoldOutMemory, ready: asyncio.Event | None = None) -> None:
    """Keep one LISTEN session open for the life of the process; `ready` is set once it first listens."""
    while True:
        conn, lost = None, asyncio.Event()
        try:
            conn = await asyncpg.connect(dsn)
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: _heard(memory, payload))
            memory.start_listening()
            if ready is not None:
                ready.set()
            await lost.wait()
            log.warning("LISTEN %s connection lost: sold-out memory off until it is back", CHANNEL)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("LISTEN %s: %s; retrying in %.1fs", CHANNEL, exc, RECONNECT_S)
        finally:
            memory.stop_listening()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)
        await asyncio.sleep(RECONNECT_S)
