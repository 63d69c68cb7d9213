"""The gateway's edge, run before every route: request id, caller, rate limit.

A request id is the client's X-Request-Id if sane, else a new one, echoed on every response (429s and
errors included) and passed downstream. A bad token is not rejected here: open routes still serve, and
routes that need a caller answer 401 with the reason.
"""

from __future__ import annotations

import math
import re
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from reference_impl.gateway import auth

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNLIMITED = ("/healthz",)


def _authenticate(request: Request) -> tuple[str | None, str | None]:
    app = request.app
    header = request.headers.get("authorization")
    if not header:
        return None, None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, "Authorization must be 'Bearer <token>' (get one from POST /auth/token)"
    try:
        return auth.verify(app.state.secret, token.strip()), None
    except auth.BadToken as exc:
        return None, str(exc)


async def edge(request: Request, call_next):
    app = request.app
    rid = request.headers.get("x-request-id", "")
    rid = rid if REQUEST_ID.match(rid) else uuid.uuid4().hex
    user, why = _authenticate(request)
    request.state.request_id, request.state.user_id, request.state.auth_error = rid, user, why
    response = None
    if request.url.path not in UNLIMITED:
        client = f"user:{user}" if user else f"ip:{request.client.host if request.client else 'unknown'}"
        try:
            allowed, wait = await app.state.limiter.take(client, anonymous=user is None)
        except RedisError:
            allowed, wait = True, 0.0     # fail open: a rate limiter must not take the shop down with it
        if not allowed:
            response = JSONResponse({"error": "rate_limited", "detail": f"too many requests for {client}: "
                                     f"retry in {wait:.2f}s"}, status_code=429,
                                    headers={"Retry-After": str(max(1, math.ceil(wait)))})
    response = response or await call_next(request)
    response.headers["X-Request-Id"] = rid
    return response
