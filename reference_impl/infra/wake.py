"""Background work that sleeps until it is told: LISTEN/NOTIFY wake-ups and a sleep that a wake-up cuts short.

Why: a relay or a lease worker that polls on a short timer burns CPU on an idle stack (before this module an
idle stack spent about a fifth of one core asking "anything yet?" every 20-500 ms). A writer announces work
with `pg_notify(channel)` in the transaction that creates it (PostgreSQL delivers it at commit, never for a
rolled-back one, and folds repeats within one transaction into one); each process keeps one connection
that LISTENs and turns every notification on a channel into a set `asyncio.Event`. Notifications sent while
that connection is down are lost, so every reconnect sets every event (the workers look once), and every
worker still looks on a slow fallback timer (`policy.IDLE_FALLBACK_S`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("lastunit.wake")

#: After losing the LISTEN connection (the database restarting), wait this long before trying again,
#: doubling up to RECONNECT_MAX_S while it stays away.
RECONNECT_S, RECONNECT_MAX_S = 0.2, 5.0


async def nap(event: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` or until `event` is set, whichever comes first; the event is cleared on the way out,
    so a notification that arrives while the caller works (after this returns) wakes its next nap."""
    if seconds > 0 and not event.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
    event.clear()


class Listener:
    """One LISTEN connection per process and database; `event(channel)` is set by every notification."""

    def __init__(self, dsn: str, channels: tuple[str, ...]):
        self.dsn = dsn
        self.events = {c: asyncio.Event() for c in channels}

    def event(self, channel: str) -> asyncio.Event:
        return self.events[channel]

    def _fire(self, _conn, _pid, channel: str, _payload: str) -> None:
        ev = self.events.get(channel)
        if ev is not None:
            ev.set()

    async def run_forever(self) -> None:
        import asyncpg  # noqa: PLC0415 - services only

        if not self.events:
            return
        backoff = RECONNECT_S
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn)
                lost = asyncio.get_running_loop().create_future()
                conn.add_termination_listener(lambda _c, f=lost: f.done() or f.set_result(None))
                for channel in self.events:
                    await conn.add_listener(channel, self._fire)
                backoff = RECONNECT_S
                for ev in self.events.values():   # whatever was announced while we were away: look once
                    ev.set()
                await lost
                log.warning("LISTEN connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # noqa: BLE001 - the database restarting: back off and retry
                log.warning("LISTEN connection failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc,
                            backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_S)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
