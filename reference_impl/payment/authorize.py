"""Authorization as a state machine over the key's recovery point: started → provider_called → finished.

Each phase is one transaction. The provider call sits alone between phases and carries a key derived from
ours, so repeating it after a crash returns the same charge instead of making a second one. Whatever the
crash point, a retry with the same key (or the completer) resumes from the last committed phase.

The completer sleeps until the earliest unfinished key is due (its lock run out, its backoff over:
`next_abandoned_due`), woken early on `lastunit_payment_completer` by a request that leaves its key
unfinished (`wake`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from importlib import resources

import aiosql
import orjson

from reference_impl.infra.client import Unknown
from reference_impl.infra.http import ApiError, DropReply
from scenarios.faults import FaultPoint
from scenarios.policy import AUTHORIZE_LOCK_TIMEOUT_S as LOCK_TIMEOUT_S
from scenarios.policy import (
    OUTAGE_RETRY_AFTER_S,
    PAYMENT_RETRY_BASE_S,
    PAYMENT_RETRY_CAP_S,
    PROVIDER_KEY_PREFIX,
)
from scenarios.states import RecoveryPoint as P

Q = aiosql.from_path(str(resources.files("reference_impl.payment") / "sql"), "asyncpg",
                     mandatory_parameters=False)


def fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def begin(pool, key: str, body: dict) -> tuple[str, uuid.UUID] | tuple[int, dict]:
    """Phase 1: create or lock the key. Returns (recovery point, payment id), or a stored (code, body)."""
    pid, fp = uuid.uuid4(), fingerprint(body)
    async with pool.acquire() as conn:
        if await Q.begin_key(conn, key=key, fingerprint=fp, payment_id=pid, order_id=body["order_id"],
                             amount=body["amount"], card=body["card"]):
            return P.STARTED, pid
    async with pool.acquire() as conn, conn.transaction():
        row = await Q.lock_key(conn, key=key, lock_timeout_s=LOCK_TIMEOUT_S)
        if row["fingerprint"] != fp:
            raise ApiError(409, "idempotency_key_reused", "this key was used for a different request")
        if row["recovery_point"] == P.FINISHED:
            return row["response_code"], orjson.loads(row["response_body"]) | {"idempotent_replay": True}
        if row["in_flight"]:
            raise ApiError(409, "idempotency_key_in_use", "a request with this key is in progress; retry later")
        await Q.take_lock(conn, key=key)
        return row["recovery_point"], row["payment_id"]


async def resume(pool, key: str) -> tuple[str, uuid.UUID] | None:
    """The completer's phase 1: take an abandoned key's lock, or None if someone else has it."""
    async with pool.acquire() as conn, conn.transaction():
        row = await Q.lock_key(conn, key=key, lock_timeout_s=LOCK_TIMEOUT_S)
        if row is None or row["recovery_point"] == P.FINISHED or row["in_flight"]:
            return None
        await Q.take_lock(conn, key=key)
        return row["recovery_point"], row["payment_id"]


def provider_verdict(status: int | None) -> str:
    """What a provider answer means for the key: `charged` (200), `refused` for good (a 4xx other than 409:
    the request itself is wrong, and sending it again cannot help), else `retry` (no answer, a 5xx, or 409:
    the provider's own key is still in flight)."""
    if status == 200:
        return "charged"
    if status is not None and 400 <= status < 500 and status != 409:
        return "refused"
    return "retry"


async def _call_provider(pool, psp, faults, key: str, pid, p: dict | None) -> tuple[int, dict] | None:
    """Phase 2. None once the provider charged (or declined) and we recorded it; else the stored answer of a
    request the provider refused for good. A provider that did not settle it frees the key with a backoff.
    `p`: the request, when this request just began the key (else read from the payment row)."""
    if p is None:
        async with pool.acquire() as conn:
            p = await Q.get_payment(conn, id=pid)
    await faults.at(FaultPoint.PAYMENT_BEFORE_PROVIDER_CALL)
    try:
        status, charge = await psp.call("POST", "/v1/charges", headers={"Idempotency-Key": PROVIDER_KEY_PREFIX + key},
                                        json={"amount": p["amount"], "currency": p.get("currency", "usd"), "card": p["card"],
                                              "reference": p["order_id"], "webhook_url": None})
    except Unknown as exc:
        status, charge = None, {"detail": str(exc)}
    verdict = provider_verdict(status)
    if verdict == "refused":
        body = {"error": "provider_refused", "detail": f"the payment provider refused this payment ({status}: "
                f"{charge.get('detail')}); retrying cannot help", "payment_id": str(pid)}
        async with pool.acquire() as conn, conn.transaction():
            await Q.fail_key(conn, key=key, payment_id=pid, reason=f"provider_{status}", code=422,
                             body=json.dumps(body))
        return 422, body
    if verdict == "retry":
        async with pool.acquire() as conn:
            await Q.defer_key(conn, key=key, base_s=PAYMENT_RETRY_BASE_S, cap_s=PAYMENT_RETRY_CAP_S)
        raise ApiError(503, "provider_unavailable", f"payment provider did not confirm: {charge.get('detail')}",
                       headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)})
    await faults.at(FaultPoint.PAYMENT_AFTER_PROVIDER_AUTH)     # charged at the provider, not yet recorded here
    async with pool.acquire() as conn:
        await Q.record_provider_result(conn, key=key, payment_id=pid, status=charge["status"],
                                       charge_id=charge["id"], decline_code=charge.get("decline_code"))
    return None


async def _finish(pool, faults, key: str, pid) -> tuple[int, dict]:
    async with pool.acquire() as conn:
        row = await Q.finish_key(conn, key=key, payment_id=pid)
    code, body = row["response_code"], orjson.loads(row["response_body"])
    if await faults.at(FaultPoint.PAYMENT_BEFORE_REPLY, defer_drop=True):
        raise DropReply(key)                                    # committed, reply never sent
    return code, body | {"idempotent_replay": False}


async def drive(pool, psp, faults, key: str, point: str, pid, body: dict | None = None) -> tuple[int, dict]:
    """Run the remaining phases from `point` (`body`: the request, when this request just began the key).
    An unknown recovery point is a bug, not a state."""
    while True:
        if point == P.STARTED:
            refused = await _call_provider(pool, psp, faults, key, pid, body)
            if refused is not None:
                return refused
            point = P.PROVIDER_CALLED
        elif point == P.PROVIDER_CALLED:
            return await _finish(pool, faults, key, pid)
        else:
            raise RuntimeError(f"idempotency key {key} at unknown recovery point {point!r}")


#: The channel a request notifies when it leaves its key unfinished (sql/keys.sql `wake_completer`).
CHANNEL = "lastunit_payment_completer"


async def wake(pool) -> None:
    async with pool.acquire() as conn:
        await Q.wake_completer(conn)


async def complete_abandoned(pool, psp, faults) -> float | None:
    """Finish every key a crashed request left mid-flight; return the seconds until the next unfinished
    key is due (its lock run out and its backoff over; None: every key is finished)."""
    async with pool.acquire() as conn:
        keys = [r["key"] async for r in Q.abandoned_keys(conn, lock_timeout_s=LOCK_TIMEOUT_S)]
    for key in keys:
        got = await resume(pool, key)
        if got is None:
            continue
        try:
            await drive(pool, psp, faults, key, *got)
        except (ApiError, DropReply):
            pass   # provider still away (the key waits out its backoff), or a fault fired: a later round
    async with pool.acquire() as conn:
        return await Q.next_abandoned_due(conn, lock_timeout_s=LOCK_TIMEOUT_S)
