"""How one service calls another: a timeout on every call, and an honest `Unknown` when there is no answer.

A timeout or a cut connection does not say whether the other side did the work; callers must treat it as
"maybe" and retry idempotently (same key), never as "no".
"""

from __future__ import annotations

import os

import aiohttp
import orjson

from reference_impl.policy import CALL_TIMEOUT_S as DEFAULT_TIMEOUT_S


class Unknown(Exception):
    """No usable answer: timed out, connection dropped, or a 5xx. The effect may or may not have happened."""

    def __init__(self, what: str, status: int | None = None, body: dict | None = None):
        super().__init__(what)
        self.status, self.body = status, body or {}


class ServiceClient:
    """One pooled keep-alive HTTP session per peer service, JSON through orjson."""

    def __init__(self, name: str, base: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.name = name
        self.base = base or os.environ.get(f"LAB_{name.upper()}_URL", "")
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(self.base, connector=aiohttp.TCPConnector(limit=64))
        return self._session

    async def call(self, method: str, path: str, json: dict | None = None, headers: dict | None = None,
                   timeout_s: float | None = None) -> tuple[int, dict]:
        """(status, body) for any answer below 500; `Unknown` otherwise."""
        if not self.base:
            raise Unknown(f"{self.name}: no URL (LAB_{self.name.upper()}_URL unset)")
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        data = None
        if json is not None:
            data, headers = orjson.dumps(json), (headers or {}) | {"Content-Type": "application/json"}
        try:
            async with self._sess().request(method, path, data=data, headers=headers, timeout=timeout) as r:
                raw = await r.read()
                body = orjson.loads(raw) if raw else {}
                body = body if isinstance(body, dict) else {"items": body}
                if r.status >= 500:
                    raise Unknown(f"{self.name} {method} {path}: {r.status}", r.status, body)
                return r.status, body
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise Unknown(f"{self.name} {method} {path}: {type(exc).__name__}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
