"""What every service's HTTP face shares: errors as `{"error": code, "detail": message}`, never a traceback.

`install_error_handlers(app)` gives a service all of it: its own errors (ApiError), invalid requests (422),
the framework's (404, 405 with Allow), a body over the cap (413, body_limit.py), a database, Redis or peer
outage (503 with Retry-After, outage.py), and any other exception (500, JSON too, and logged), plus an
OpenAPI document that says so (openapi.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from reference_impl.infra import outage
from reference_impl.infra.body_limit import BodyLimit, BodyTooLarge, too_large_body
from reference_impl.infra.openapi import EVERYWHERE, truthful_openapi
from scenarios.policy import OUTAGE_RETRY_AFTER_S

#: A dropped reply holds the connection open until the caller gives up (or this long), then closes it.
DROP_HOLD_S = 120.0
log = logging.getLogger("lastunit.http")


class DropReply(Exception):
    """The work is done and committed; the handler must not answer (fault action `drop_reply`)."""


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict | None = None, **extra):
        super().__init__(detail)
        self.status, self.headers = status, headers
        self.body = {"error": error, "detail": detail, **extra}


def _explain(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def _allowed(request: Request) -> str:
    """Every method the resource takes: the routes declared with the most specific path that matches (fewest
    parameters). Starlette's own Allow names only the first matching route's methods, and a template must
    not speak for a literal: /stock/{sku} is not /stock/receipts, GET /checkout/{key} not POST /checkout/cart."""
    routes = [r for r in request.app.router.routes if getattr(r, "methods", None)]
    matching = [r for r in routes if r.matches(request.scope | {"method": "\0"})[0] is not Match.NONE]
    if not matching:
        return ""
    best = min(matching, key=lambda r: r.path.count("{")).path
    return ", ".join(sorted({m for r in matching if r.path == best for m in r.methods}))


async def _disconnected(receive) -> None:
    """Until the caller hangs up: the server hands `http.disconnect` to `receive` when it does (a body not
    yet read comes first and is skipped), so a held reply sleeps instead of asking every 50 ms."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def hold(receive) -> None:
    """A dropped reply (DropReply): hold the connection until the caller hangs up, or DROP_HOLD_S. The
    FastAPI handler below and the fast lane (fastlane.py) both hold with it, then answer 499 to nobody."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_disconnected(receive), DROP_HOLD_S)


def install_error_handlers(app: FastAPI, everywhere: tuple[int, ...] = EVERYWHERE,
                           security: dict | None = None) -> None:
    app.add_middleware(BodyLimit)
    truthful_openapi(app, everywhere, security)

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError):
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(DropReply)
    async def _drop(request: Request, _: DropReply):
        await hold(request.receive)
        return Response(status_code=499)   # nobody is listening any more

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        return JSONResponse({"error": "invalid_request", "detail": _explain(exc)}, status_code=422)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge):
        return JSONResponse(too_large_body(exc.limit), status_code=413,
                            headers={"Connection": "close"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request)
        error = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": error, "detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=headers)

    async def _outage(request: Request, exc: Exception):
        said = outage.describe(exc)
        if said is None:
            return await _bug(request, exc)
        log.warning("%s %s: %s", request.method, request.url.path, said[1])
        return JSONResponse({"error": said[0], "detail": said[1]}, status_code=503,
                            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)})

    for cls in outage.outage_classes():
        app.add_exception_handler(cls, _outage)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        # Starlette logs the traceback after this answer; the client gets JSON, never text/plain.
        return JSONResponse({"error": "internal_error",
                             "detail": f"unexpected {type(exc).__name__} at {request.url.path}; see the service log"},
                            status_code=500)
