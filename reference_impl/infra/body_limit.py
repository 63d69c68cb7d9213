"""Refuse a request body over the cap before holding it in memory: 413 JSON, at every service.

Why our own ASGI middleware and not Starlette's RequestBodyLimitMiddleware: Starlette's answers text/plain,
and checks Content-Length only once the route reads its body or answers, so a route that ignores its body
(a commit, a release) still runs before the 413 replaces its answer. Here a declared Content-Length over the
cap is refused before any route runs, and a body sent without one (chunked) is counted as it streams in; the
read that crosses the cap raises `BodyTooLarge`, which the error handlers (http.py) turn into the 413.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scenarios.policy import MAX_BODY_BYTES


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through instead of calling it a bad body (400)."""

    def __init__(self, limit: int):
        super().__init__(413, too_large_body(limit)["detail"])
        self.limit = limit


def too_large_body(limit: int) -> dict:
    return {"error": "payload_too_large", "detail": f"the request body is over {limit} bytes (MAX_BODY_BYTES)"}


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(too_large_body(self.max_bytes)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
