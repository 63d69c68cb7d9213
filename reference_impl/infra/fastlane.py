"""A fast lane for a service's hot routes: plain ASGI in front of the FastAPI app.

A request on a lane route has its JSON body validated by pydantic straight from the bytes (the same model the
FastAPI route declares) and its answer encoded by orjson, without FastAPI's middleware stack, dependency
solving and response classes. Everything else goes to the FastAPI app untouched: other routes, and a lane
request whose body does not validate (replayed to FastAPI, so a 422 reads exactly as it always did). The
FastAPI route stays declared for the OpenAPI document and as the one spelling of the endpoint.

Why: on the inventory's hot path FastAPI cost ~180 us of CPU per request before the handler ran (a GET /ping
took 177 us, a sold-out answer from memory 357 us, measured with /proc on this box); a 10,000-buyer race is
10,000 of those on one core.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from pydantic import BaseModel, ValidationError

from reference_impl.infra import outage
from reference_impl.infra.http import ApiError
from scenarios.policy import OUTAGE_RETRY_AFTER_S

#: (method, path) -> (the body's model, a handler answering (status, JSON-able payload)).
Lane = dict[tuple[str, str], tuple[type[BaseModel], Callable[[BaseModel], Awaitable[tuple[int, dict]]]]]
JSON_HEADERS = [(b"content-type", b"application/json")]
log = logging.getLogger(__name__)


def _json(scope) -> bool:
    """FastAPI reads a body as JSON only when it says so; so does the lane (the rest goes to FastAPI)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def _body(receive) -> bytes:
    chunks, more = [], True
    while more:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        chunks.append(msg.get("body", b""))
        more = msg.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """A `receive` that hands the already-read body to the FastAPI app, then defers to the real one."""
    sent = False

    async def again():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


async def respond(send, status: int, payload, headers: dict | None = None) -> None:
    data = orjson.dumps(payload)
    extra = [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [*JSON_HEADERS, (b"content-length", str(len(data)).encode()), *extra]})
    await send({"type": "http.response.body", "body": data})


def failure(scope, exc: Exception) -> tuple[int, dict, dict]:
    """What http.py's handlers answer for an exception out of a handler: an outage of a server we depend on
    is a 503 with Retry-After, anything else a 500, JSON both (the lane cannot hand a half-done request
    back to FastAPI)."""
    said = outage.describe(exc)
    if said is not None:
        log.warning("%s %s: %s", scope["method"], scope["path"], said[1])
        return 503, {"error": said[0], "detail": said[1]}, {"Retry-After": OUTAGE_RETRY_AFTER_S}
    log.exception("%s %s failed", scope["method"], scope["path"], exc_info=exc)
    return 500, {"error": "internal_error",
                 "detail": f"unexpected {type(exc).__name__} at {scope['path']}; see the service log"}, {}


class FastLane:
    def __init__(self, app, lane: Lane):
        self.app, self.lane = app, lane

    async def __call__(self, scope, receive, send):
        route = self.lane.get((scope.get("method"), scope.get("path"))) if scope["type"] == "http" else None
        if route is None or not _json(scope):
            return await self.app(scope, receive, send)
        model, handler = route
        body = await _body(receive)
        try:
            parsed = model.model_validate_json(body)
        except ValidationError:
            return await self.app(scope, _replay(body, receive), send)
        headers = None
        try:
            status, payload = await handler(parsed)
        except ApiError as exc:
            status, payload, headers = exc.status, exc.body, exc.headers
        except Exception as exc:   # noqa: BLE001 - answered as FastAPI's handlers would (http.py)
            status, payload, headers = failure(scope, exc)
        await respond(send, status, payload, headers)
