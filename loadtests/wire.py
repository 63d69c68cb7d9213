"""A lean HTTP/1.1 keep-alive connection for load generators: prebuilt request bytes out, replies parsed by
httptools (uvicorn's own C parser), one asyncio Protocol per connection.

Why not aiohttp here: in a 10,000-buyer race the client shares two cores with the service and the database,
and aiohttp spent most of the race's CPU: a ClientSession and connector per buyer, happy-eyeballs connects,
a timer per request (py-spy: aiohttp's connect, request and response paths were ~50% of the client's samples,
the selector loop most of the rest). This sends one `transport.write` per request and parses the reply in C.
"""

from __future__ import annotations

import asyncio
import json

import httptools

try:
    import orjson

    loads = orjson.loads
    dumps = orjson.dumps
except ImportError:            # orjson is a dependency; keep the client usable without it all the same
    loads = json.loads

    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


def request(method: str, path: str, host: str, body: dict | None = None) -> bytes:
    """The bytes of one request: the buyer's whole message, built before the barrier."""
    payload = b"" if body is None else dumps(body)
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


class Conn(asyncio.Protocol):
    """One connection, one request at a time: `await conn.send(raw)` -> (status, body bytes)."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future | None = None
        self._body: list[bytes] = []
        self.lost: BaseException | None = None

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"unreadable reply: {exc}"))
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.lost = exc or ConnectionResetError("server closed the connection")
        self._fail(self.lost)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))
        self._body = []

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def send(self, raw: bytes) -> asyncio.Future:
        """Write one request; the future answers (status, body) or raises ConnectionError."""
        self._waiter = fut = asyncio.get_running_loop().create_future()
        if self.lost is not None:
            fut.set_exception(ConnectionError(f"connection lost: {self.lost}"))
        else:
            self.transport.write(raw)
        return fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> Conn:
    _, conn = await asyncio.get_running_loop().create_connection(Conn, host, port)
    return conn
