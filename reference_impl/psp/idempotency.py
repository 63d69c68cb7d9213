"""Idempotency-Key handling: same key and same request -> the stored response; one charge per key.

The protocol, in the spirit of rocket-rides-atomic (but the provider has no foreign call, so two phases do):
  1. claim: one autocommit statement inserts the key with the request's fingerprint. Losing the insert means
     the key exists: another fingerprint -> 409 idempotency_key_reused; no response yet -> 409
     idempotency_key_in_use (the twin is still running); a stored response -> replayed as it was.
  2. work: the state change, its outbox event and the stored response commit in ONE transaction, so a
     response exists exactly when its effect does. An error the endpoint raised (404, invalid transition)
     is stored too, as Stripe does; an unexpected failure stores nothing and frees the key for a retry.
A claimant that crashed between 1 and 2 did nothing (2 is atomic), so its key is taken over by the same
request after KEY_LEASE_S.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reference_impl.infra.http import ApiError
from reference_impl.psp.queries import Q
from scenarios.policy import PROVIDER_KEY_MAX_LEN as MAX_KEY_LEN

#: A claim with no response after this long belongs to a request that died; every request here is one
#: short transaction, so 30 s is far past any live one.
KEY_LEASE_S = 30.0

Work = Callable[[object], Awaitable[tuple[dict, str | None]]]   # conn -> (response body, charge id)


@dataclass
class Reply:
    status: int
    body: dict
    replayed: bool = False


def fingerprint(method: str, path: str, body: dict | None) -> str:
    """What "the same request" means: method, path and the parsed body, key order ignored."""
    canon = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def check_key(key: str | None) -> str:
    if key is None:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header")
    if not 1 <= len(key) <= MAX_KEY_LEN:
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key must be 1..{MAX_KEY_LEN} characters")
    return key


def _replay(status: int, body: dict) -> Reply:
    if status >= 400:
        extra = {k: v for k, v in body.items() if k not in ("error", "detail")}
        raise ApiError(status, body["error"], body["detail"], **extra | {"idempotent_replay": True})
    return Reply(status, body | {"idempotent_replay": True}, replayed=True)


async def run(pool, key: str, fp: str, work: Work) -> Reply:
    """Run `work` at most once per key; answer every retry of the same request with its stored result."""
    for _ in range(3):   # a key released between our failed claim and our read: claim again
        async with pool.acquire() as conn:
            if await Q.claim_key(conn, key=key, fingerprint=fp, lease_s=KEY_LEASE_S) is None:
                row = await Q.get_key(conn, key=key)
                if row is None:
                    continue
                if row["fingerprint"] != fp:
                    raise ApiError(409, "idempotency_key_reused",
                                   "this Idempotency-Key was used with other parameters")
                if row["response_status"] is None:
                    raise ApiError(409, "idempotency_key_in_use",
                                   "a request with this Idempotency-Key is still in flight; retry later")
                return _replay(row["response_status"], json.loads(row["response_body"]))
            return await _work(conn, key, work)
    raise ApiError(409, "idempotency_key_in_use", "this Idempotency-Key keeps changing hands; retry later")


async def _work(conn, key: str, work: Work) -> Reply:
    try:
        async with conn.transaction():
            body, charge_id = await work(conn)
            await Q.store_response(conn, key=key, status=200, body=json.dumps(body), charge_id=charge_id)
    except ApiError as exc:
        await Q.store_response(conn, key=key, status=exc.status, body=json.dumps(exc.body), charge_id=None)
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            await Q.release_key(conn, key=key)
        raise
    return Reply(200, body | {"idempotent_replay": False})
