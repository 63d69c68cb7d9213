"""Authorization as a state machine over the key's recovery point: started → provider_called → finished.

Each phase is one transaction. The provider call sits alone between phases and carries a key derived from
ours, so repeating it after a crash returns the same charge instead of making a second one. Whatever the
crash point, a retry with the same key (or the completer) resumes from the last committed phase.

The completer sleeps until the earliest unfinished key's lock runs out (`next_abandoned_due`), woken early
on `lastunit_payment_completer` by a request that leaves its key unfinished (`wake`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from importlib import resources

import aiosql
import orjson

from reference_impl.infra.client import Unknown
from reference_impl.infra.faults import FaultPoint
from reference_impl.infra.http import ApiError, DropReply
from reference_impl.policy import AUTHORIZE_LOCK_TIMEOUT_S as LOCK_TIMEOUT_S
from reference_impl.policy import PROVIDER_KEY_PREFIX

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
            return "started", pid
    async with pool.acquire() as conn, conn.transaction():
        row = await Q.lock_key(conn, key=key, lock_timeout_s=LOCK_TIMEOUT_S)
        if row["fingerprint"] != fp:
            raise ApiError(409, "idempotency_key_reused", "this key was used for a different request")
        if row["recovery_point"] == "finished":
            return row["response_code"], orjson.loads(row["response_body"]) | {"idempotent_replay": True}
        if row["in_flight"]:
            raise ApiError(409, "idempotency_key_in_use", "a request with this key is in progress; retry later")
        await Q.take_lock(conn, key=key)
        return row["recovery_point"], row["payment_id"]


async def resume(pool, key: str) -> tuple[str, uuid.UUID] | None:
    """The completer's phase 1: take an abandoned key's lock, or None if someone else has it."""
    async with pool.acquire() as conn, conn.transaction():
        row = await Q.lock_key(conn, key=key, lock_timeout_s=LOCK_TIMEOUT_S)
        if row is None or row["recovery_point"] == "finished" or row["in_flight"]:
            return None
        await Q.take_lock(conn, key=key)
        return row["recovery_point"], row["payment_id"]


async def _call_provider(pool, psp, faults, key: str, pid, p: dict | None) -> None:
    if p is None:                                   # resumed: the request's body is in the payment row
        async with pool.acquire() as conn:
            p = await Q.get_payment(conn, id=pid)
    await faults.at(FaultPoint.PAYMENT_BEFORE_PROVIDER_CALL)
    try:
        status, charge = await psp.call("POST", "/v1/charges", headers={"Idempotency-Key": PROVIDER_KEY_PREFIX + key},
                                        json={"amount": p["amount"], "currency": p.get("currency", "usd"), "card": p["card"],
                                              "reference": p["order_id"], "webhook_url": None})
    except Unknown as exc:
        status, charge = None, {"detail": str(exc)}
    if status != 200:
        async with pool.acquire() as conn:
            await Q.release_lock(conn, key=key)
        raise ApiError(503, "provider_unavailable", f"payment provider did not confirm: {charge.get('detail')}")
    await faults.at(FaultPoint.PAYMENT_AFTER_PROVIDER_AUTH)     # charged at the provider, not yet recorded here
    async with pool.acquire() as conn:
        await Q.record_provider_result(conn, key=key, payment_id=pid, status=charge["status"],
                                       charge_id=charge["id"], decline_code=charge.get("decline_code"))


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
        if point == "started":
            await _call_provider(pool, psp, faults, key, pid, body)
            point = "provider_called"
        elif point == "provider_called":
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
    key's lock runs out (None: every key is finished)."""
    async with pool.acquire() as conn:
        keys = [r["key"] async for r in Q.abandoned_keys(conn, lock_timeout_s=LOCK_TIMEOUT_S)]
    for key in keys:
        got = await resume(pool, key)
        if got is None:
            continue
        try:
            await drive(pool, psp, faults, key, *got)
        except (ApiError, DropReply):
            pass   # provider still away, or a fault fired: next round
    async with pool.acquire() as conn:
        return await Q.next_abandoned_due(conn, lock_timeout_s=LOCK_TIMEOUT_S)
