"""Forwarding to the services behind the gateway. Each one's URL comes from env `LAB_<NAME>_URL`.

A service that is not configured or not answering is a 503 `unavailable` with a message, never a 500: a
client (or a Locust user) must be able to tell "the shop is down" from "my request was wrong".
"""

from __future__ import annotations

import json
import os

import aiohttp
from fastapi import Response

from reference_impl.infra.http import ApiError

#: Longer than any one service call should take (the checkout saga included), shorter than a client's patience.
TIMEOUT_S = 30.0
PASS_HEADERS = ("content-type", "idempotency-key")


def service_url(name: str) -> str:
    url = os.environ.get(f"LAB_{name.upper()}_URL")
    if not url:
        raise ApiError(503, "unavailable", f"the {name} service is not configured (LAB_{name.upper()}_URL)")
    return url.rstrip("/")


class Upstream:
    def __init__(self):
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))

    async def close(self) -> None:
        await self.session.close()

    async def call(self, service: str, method: str, path: str, *, params=None, body: bytes | None = None,
                   headers: dict | None = None) -> tuple[int, bytes, dict]:
        """(status, body, the response headers worth passing on: content-type, and Retry-After of a 429/503)."""
        url = service_url(service) + path
        try:
            async with self.session.request(method, url, params=params, data=body, headers=headers) as r:
                keep = {"content-type": r.headers.get("content-type", "application/json")}
                if "retry-after" in r.headers:
                    keep["retry-after"] = r.headers["retry-after"]
                return r.status, await r.read(), keep
        except TimeoutError:
            raise ApiError(504, "upstream_timeout", f"the {service} service did not answer in {TIMEOUT_S:.0f}s") \
                from None
        except aiohttp.ClientError as exc:
            raise ApiError(503, "unavailable", f"the {service} service is unreachable: {type(exc).__name__}") \
                from None

    async def forward(self, service: str, method: str, path: str, **kw) -> Response:
        status, content, headers = await self.call(service, method, path, **kw)
        return Response(content, status_code=status, headers=headers)

    async def json(self, service: str, method: str, path: str, **kw) -> tuple[int, dict]:
        status, content, _ = await self.call(service, method, path, **kw)
        try:
            return status, json.loads(content or b"{}")
        except ValueError:
            raise ApiError(502, "bad_upstream", f"the {service} service answered non-JSON") from None


def pass_headers(request, user_id: str | None, request_id: str) -> dict:
    out = {k: v for k, v in request.headers.items() if k.lower() in PASS_HEADERS}
    out["X-Request-Id"] = request_id
    if user_id:
        out["X-User-Id"] = user_id
    return out
