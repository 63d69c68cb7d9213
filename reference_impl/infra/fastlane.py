"""A fast lane for a service's hot routes: plain ASGI in front of the FastAPI app.

A lane route is matched by method and path template (`/reservations/{reservation_id}/commit`: a `{name}`
segment takes any non-empty segment, as Starlette's `str` convertor does); its JSON body, if it declares a
model, is validated by pydantic straight from the bytes (the model the FastAPI route declares); its handler
gets the path parameters, the request headers and the raw body (`Call`), and its answer is encoded by orjson,
without FastAPI's middleware stack, dependency solving and response classes. Everything else goes to the
FastAPI app untouched: other routes, a body that is not JSON, and a lane request whose body does not validate
(replayed to FastAPI, so a 422 reads exactly as it always did).

One implementation per endpoint: the route's work is a plain function answering `(status, payload)` or
`(status, payload, headers)`; the FastAPI route calls it and wraps the answer (`response`), the lane calls it
through a one-line adapter from `Call`. The FastAPI route stays declared for the OpenAPI document, as the one
spelling of the endpoint, and as the path a replayed request takes. Errors read as http.py's handlers write
them: ApiError's body, 503 for an outage, 500 JSON for a bug; a DropReply holds the connection as http.py does.

Why: FastAPI costs ~180-350 us of CPU per request before and after the handler (a GET /ping took 177 us, a
sold-out answer from memory 357 us through FastAPI and 95 us on the lane, measured with /proc on this box),
and a checkout crosses seven such routes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from reference_impl.infra import outage
from reference_impl.infra.http import ApiError, DropReply, hold
from scenarios.policy import OUTAGE_RETRY_AFTER_S

JSON_HEADERS = [(b"content-type", b"application/json")]
log = logging.getLogger(__name__)


class Call(NamedTuple):
    """What a lane handler gets: path parameters, the body's model (or None), the raw body, the headers."""
    params: dict[str, str]
    body: Any
    raw: bytes
    headers: list[tuple[bytes, bytes]]

    def header(self, name: str) -> str | None:
        """The first value of a header, as Starlette's `request.headers.get` (and so FastAPI's Header) reads it."""
        key = name.lower().encode("latin-1")
        return next((v.decode("latin-1") for k, v in self.headers if k == key), None)


#: (status, payload) or (status, payload, headers): what a route's shared implementation answers.
Answer = tuple
Handler = Callable[[Call], Awaitable[Answer]]


class Route(NamedTuple):
    method: str
    path: str                          # a template: literal segments and `{name}` segments
    handler: Handler
    body: type[BaseModel] | None = None   # validated from the bytes; a failure is replayed to FastAPI
    raw: bool = False                  # read the body as bytes (a signature over it) without a model


def response(answer: Answer) -> JSONResponse:
    """The FastAPI route's side of a shared implementation: its answer as the route returns it."""
    return JSONResponse(answer[1], status_code=answer[0], headers=answer[2] if len(answer) > 2 else None)


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


def _match(template: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    if len(template) != len(parts):
        return None
    params = {}
    for want, got in zip(template, parts, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


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
    def __init__(self, app, routes: list[Route]):
        self.app = app
        self.routes: dict[str, list[tuple[tuple[str, ...], Route]]] = {}
        for route in routes:
            self.routes.setdefault(route.method, []).append((_segments(route.path), route))

    def _find(self, scope) -> tuple[Route, dict[str, str]] | None:
        candidates = self.routes.get(scope.get("method")) if scope["type"] == "http" else None
        if candidates:
            parts = scope["path"].split("/")
            for template, route in candidates:
                params = _match(template, parts)
                if params is not None:
                    return route, params
        return None

    async def __call__(self, scope, receive, send):
        found = self._find(scope)
        if found is None or (found[0].body is not None and not _json(scope)):
            return await self.app(scope, receive, send)
        route, params = found
        raw = await _body(receive) if route.body is not None or route.raw else b""
        parsed = None
        if route.body is not None:
            try:
                parsed = route.body.model_validate_json(raw)
            except ValidationError:
                return await self.app(scope, _replay(raw, receive), send)
        headers = None
        try:
            status, payload, *more = await route.handler(Call(params, parsed, raw, scope["headers"]))
            headers = more[0] if more else None
        except ApiError as exc:
            status, payload, headers = exc.status, exc.body, exc.headers
        except DropReply:      # the work is done; the caller never hears it (http.py's handler, the same)
            await hold(receive)
            await send({"type": "http.response.start", "status": 499, "headers": [(b"content-length", b"0")]})
            return await send({"type": "http.response.body", "body": b""})
        except Exception as exc:   # noqa: BLE001 - answered as FastAPI's handlers would (http.py)
            status, payload, headers = failure(scope, exc)
        await respond(send, status, payload, headers)
