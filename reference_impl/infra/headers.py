"""Required headers we check ourselves (400 or 401 with our own message), documented as required.

FastAPI would answer a missing or over-long header with its generic 422; an Idempotency-Key has a contract of
its own (policy.py: each hop takes at most what the next one takes after its own prefix), so the route reads
the header leniently, `require_key` enforces the limit with a message, and `documented(...)` (the route's
`openapi_extra`) tells the OpenAPI document the truth: required, with the length limit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from reference_impl.infra.http import ApiError

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]
UserIdHeader = Annotated[str | None, Header(alias="X-User-Id", include_in_schema=False)]
#: The gateway's user ids (auth.USER_ID) are at most this long.
USER_ID_MAX_LEN = 100


def documented(*params: tuple[str, int, str]) -> dict:
    """`openapi_extra` declaring required header parameters: (name, max length, what it is for)."""
    return {"parameters": [{"name": name, "in": "header", "required": True, "description": why,
                            "schema": {"type": "string", "minLength": 1, "maxLength": max_len}}
                           for name, max_len, why in params]}


def key_doc(max_len: int, why: str = "one per attempt; a retry sends the same key") -> tuple[str, int, str]:
    return ("Idempotency-Key", max_len, why)


def require_key(key: str | None, max_len: int) -> str:
    if not key:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header: one per attempt")
    if len(key) > max_len:
        raise ApiError(400, "invalid_idempotency_key",
                       f"Idempotency-Key is {len(key)} characters; at most {max_len} are taken here")
    return key
