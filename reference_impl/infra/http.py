"""What every service's HTTP face shares: errors as `{"error": code, "detail": message}`, never a traceback."""

from __future__ import annotations

import asyncio
import time

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

#: A dropped reply holds the connection open until the caller gives up (or this long), then closes it.
DROP_HOLD_S = 120.0


class DropReply(Exception):
    """The work is done and committed; the handler must not answer (fault action `drop_reply`)."""


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, **extra):
        super().__init__(detail)
        self.status, self.body = status, {"error": error, "detail": detail, **extra}


def _explain(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:3]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError):
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(DropReply)
    async def _drop(request: Request, _: DropReply):
        deadline = time.monotonic() + DROP_HOLD_S
        while time.monotonic() < deadline and not await request.is_disconnected():
            await asyncio.sleep(0.05)
        return Response(status_code=499)   # nobody is listening any more

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        return JSONResponse({"error": "invalid_request", "detail": _explain(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": "http_error", "detail": str(exc.detail)}, status_code=exc.status_code)
