"""How one service calls another: a timeout on every call, and an honest `Unknown` when there is no answer.

A timeout or a cut connection does not say whether the other side did the work; callers must treat it as
"maybe" and retry idempotently (same key), never as "no".
"""

from __future__ import annotations

import os

import orjson

from reference_impl.infra.wire import Origin
from scenarios.policy import CALL_TIMEOUT_S as DEFAULT_TIMEOUT_S


class Unknown(Exception):
    """No usable answer: timed out, connection dropped, or a 5xx. The effect may or may not have happened."""

    def __init__(self, what: str, status: int | None = None, body: dict | None = None):
        super().__init__(what)
        self.status, self.body = status, body or {}


class ServiceClient:
    """Pooled keep-alive HTTP to one peer service (`infra.wire`), JSON through orjson."""

    def __init__(self, name: str, base: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.name = name
        self.base = base or os.environ.get(f"LAB_{name.upper()}_URL", "")
        self.timeout_s = timeout_s
        self._origin: Origin | None = None

    async def call(self, method: str, path: str, json: dict | None = None, headers: dict | None = None,
                   timeout_s: float | None = None) -> tuple[int, dict]:
        """(status, body) for any answer below 500; `Unknown` otherwise."""
        if not self.base:
            raise Unknown(f"{self.name}: no URL (LAB_{self.name.upper()}_URL unset)")
        if self._origin is None:
            self._origin = Origin(self.base)
        try:
            status, raw = await self._origin.request(method, path, orjson.dumps(json) if json is not None else None,
                                                     headers, timeout_s or self.timeout_s)
            body = orjson.loads(raw) if raw else {}
        except (TimeoutError, OSError, ConnectionError, ValueError) as exc:
            raise Unknown(f"{self.name} {method} {path}: {type(exc).__name__}") from None
        body = body if isinstance(body, dict) else {"items": body}
        if status >= 500:
            raise Unknown(f"{self.name} {method} {path}: {status}", status, body)
        return status, body

    async def close(self) -> None:
        if self._origin is not None:
            self._origin.close()
