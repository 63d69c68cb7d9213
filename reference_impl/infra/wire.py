"""HTTP/1.1 between the services: pooled keep-alive connections, one `transport.write` per request, replies
parsed by httptools (the C parser uvicorn itself uses), a timer per call instead of a task.

Why not aiohttp on this path: a checkout makes eight calls between services, and aiohttp's client spent
0.5-0.8 ms of CPU on each (`lastunit bench` and /proc on this box), as much as the server that answered;
this client spends a fraction of that. It does only what the services need: JSON bodies, a deadline per
call, a connection that answered nothing (a timeout, a crash, a dropped reply) is closed, never reused.
"""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import httptools

#: Idle connections kept per origin; more in flight at once are opened and then closed.
MAX_IDLE = 64
#: An idle connection older than this is closed instead of reused: well under the servers' keep-alive
#: (infra/serve.py: KEEP_ALIVE_S, 300 s), so a request is never sent on a connection the server is closing.
IDLE_MAX_S = 30.0


class _Conn(asyncio.Protocol):
    """One connection, one request at a time."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.body: list[bytes] = []
        self.status = 0
        self.dead = False
        self.idle_since = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unreadable reply: {exc}"))
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.dead = True
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        if not self.parser.should_keep_alive():
            self.dead = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.status, body))

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, data: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("no answer in time"))


class Origin:
    """Keep-alive connections to one scheme://host:port."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{base!r}: expected http://host:port")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.head = f"\r\nHost: {parts.netloc}\r\n"
        self.idle: list[_Conn] = []

    async def _conn(self, timeout_s: float) -> _Conn:
        now = time.monotonic()
        while self.idle:
            c = self.idle.pop()
            if not c.dead and now - c.idle_since < IDLE_MAX_S:
                return c
            c.transport.close()
        loop = asyncio.get_running_loop()
        _, c = await asyncio.wait_for(loop.create_connection(_Conn, self.host, self.port), timeout_s)
        return c

    def _done(self, c: _Conn) -> None:
        if c.dead or len(self.idle) >= MAX_IDLE:
            c.transport.close()
            return
        c.idle_since = time.monotonic()
        self.idle.append(c)

    async def request(self, method: str, path: str, body: bytes | None, headers: dict | None,
                      timeout_s: float) -> tuple[int, bytes]:
        """(status, body bytes); TimeoutError or OSError/ConnectionError when no answer came."""
        head = method + " " + self.prefix + path + " HTTP/1.1" + self.head
        if body is not None or method in ("POST", "PUT", "PATCH"):
            body = body or b""
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        deadline = time.monotonic() + timeout_s
        c = await self._conn(timeout_s)
        fut = c.send((head + "\r\n").encode() + (body or b""))
        timer = asyncio.get_running_loop().call_later(max(0.0, deadline - time.monotonic()), _expire, fut)
        try:
            status, data = await fut
        except BaseException:
            c.dead = True                      # it may still answer later: never reuse it
            c.transport.close()
            raise
        finally:
            timer.cancel()
        self._done(c)
        return status, data

    def close(self) -> None:
        for c in self.idle:
            c.transport.close()
        self.idle.clear()
