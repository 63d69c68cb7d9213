"""Idempotency-Key handling: same key and same request -> the stored response; one charge per key.

The protocol, in the spirit of rocket-rides-atomic (but the provider has no foreign call, so two phases do):
  1. claim: one autocommit statement inserts the key with the request's fingerprint. Losing the insert means
     the key exists: another fingerprint -> 409 idempotency_key_reused; no response yet -> 409
     idempotency_key_in_use (the twin is still running); a stored response -> replayed as it was.
  2. work: ONE statement (sql/charges.sql) locks the claim, checks it is still ours (the claim's time is
     our token), makes the state change with its outbox event and stores the response, so a response
     exists exactly when its effect does. An error the endpoint raised (404, invalid transition) is stored
     too, as Stripe does; an unexpected failure stores nothing and frees the key for a retry.
A claimant that crashed between 1 and 2 did nothing (2 is atomic), so the same request takes its key over
after KEY_LEASE_S. Taking over is safe however early: a claimant that was only slow finds its token gone
in 2, writes nothing and answers 409 idempotency_key_in_use; so the lease is short.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from reference_impl.infra.http import ApiError
from reference_impl.psp.queries import Q
from scenarios.policy import PROVIDER_KEY_MAX_LEN as MAX_KEY_LEN

#: A claim with no response after this long may be taken over by a retry of the same request. Safe at any
#: value (see above); 1 s is far past a live request's claim-to-work gap (two statements back to back) and
#: shorter than any caller's first retry, so a request whose psp process died is never refused for long.
KEY_LEASE_S = 1.0

#: (conn, claim token) -> the response body, stored by the work itself; KeyLost if the claim was taken over.
Work = Callable[[object, object], Awaitable[dict]]


class KeyLost(Exception):
    """The claim was taken over (its token changed) before the work could run: nothing was written."""


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
            token = await Q.claim_key(conn, key=key, fingerprint=fp, lease_s=KEY_LEASE_S)
            if token is None:
                row = await Q.get_key(conn, key=key)
                if row is None:
                    continue
                if row["fingerprint"] != fp:
                    raise ApiError(409, "idempotency_key_reused",
                                   "this Idempotency-Key was used with other parameters")
                if row["response_status"] is None:
                    raise ApiError(409, "idempotency_key_in_use",
                                   "a request with this Idempotency-Key is still in flight; retry later")
                return _replay(row["response_status"], orjson.loads(row["response_body"]))
            return await _work(conn, key, token, work)
    raise ApiError(409, "idempotency_key_in_use", "this Idempotency-Key keeps changing hands; retry later")


async def _work(conn, key: str, token, work: Work) -> Reply:
    try:
        body = await work(conn, token)
    except KeyLost:
        raise ApiError(409, "idempotency_key_in_use", "another try of this request took the key over; "
                       "retry to get its answer") from None
    except ApiError as exc:
        try:
            await store(conn, key, token, exc.status, exc.body, None)
        except KeyLost:
            raise ApiError(409, "idempotency_key_in_use", "another try of this request took the key over; "
                           "retry to get its answer") from None
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            await Q.release_key(conn, key=key, claimed_at=token)
        raise
    return Reply(200, body | {"idempotent_replay": False})


async def store(conn, key: str, token, status: int, body: dict, charge_id: str | None) -> None:
    """Store a response the work did not write itself; KeyLost when the claim is no longer ours."""
    if await Q.store_response(conn, key=key, claimed_at=token, status=status, body=orjson.dumps(body).decode(),
                              charge_id=charge_id) is None:
        raise KeyLost(key)
