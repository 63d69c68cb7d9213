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
    async with pool.acquire() as conn, conn.transaction():
        pid = uuid.uuid4()
        new = await Q.insert_key(conn, key=key, fingerprint=fingerprint(body), payment_id=pid)
        if new:
            await Q.insert_payment(conn, id=pid, order_id=body["order_id"], amount=body["amount"],
                                   card=body["card"])
            return "started", pid
        row = await Q.lock_key(conn, key=key, lock_timeout_s=LOCK_TIMEOUT_S)
        if row["fingerprint"] != fingerprint(body):
            raise ApiError(409, "idempotency_key_reused", "this key was used for a different request")
        if row["recovery_point"] == "finished":
            return row["response_code"], json.loads(row["response_body"]) | {"idempotent_replay": True}
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


async def _call_provider(pool, psp, faults, key: str, pid) -> None:
    async with pool.acquire() as conn:
        p = await Q.get_payment(conn, id=pid)
    await faults.at(FaultPoint.PAYMENT_BEFORE_PROVIDER_CALL)
    try:
        status, charge = await psp.call("POST", "/v1/charges", headers={"Idempotency-Key": PROVIDER_KEY_PREFIX + key},
                                        json={"amount": p["amount"], "currency": p["currency"], "card": p["card"],
                                              "reference": p["order_id"], "webhook_url": None})
    except Unknown as exc:
        status, charge = None, {"detail": str(exc)}
    if status != 200:
        async with pool.acquire() as conn:
            await Q.release_lock(conn, key=key)
        raise ApiError(503, "provider_unavailable", f"payment provider did not confirm: {charge.get('detail')}")
    await faults.at(FaultPoint.PAYMENT_AFTER_PROVIDER_AUTH)     # charged at the provider, not yet recorded here
    async with pool.acquire() as conn, conn.transaction():
        await Q.record_provider_result(conn, key=key, payment_id=pid, status=charge["status"],
                                       charge_id=charge["id"], decline_code=charge.get("decline_code"))


async def _finish(pool, faults, key: str, pid) -> tuple[int, dict]:
    async with pool.acquire() as conn, conn.transaction():
        p = await Q.get_payment(conn, id=pid)
        body = {"payment_id": str(pid), "order_id": p["order_id"], "status": p["status"], "amount": p["amount"],
                "psp_charge_id": p["psp_charge_id"], "decline_code": p["decline_code"]}
        code = 201 if p["status"] == "authorized" else 402
        await Q.finish_key(conn, key=key, code=code, body=json.dumps(body))
    if await faults.at(FaultPoint.PAYMENT_BEFORE_REPLY, defer_drop=True):
        raise DropReply(key)                                    # committed, reply never sent
    return code, body | {"idempotent_replay": False}


async def drive(pool, psp, faults, key: str, point: str, pid) -> tuple[int, dict]:
    """Run the remaining phases from `point`. An unknown recovery point is a bug, not a state."""
    while True:
        if point == "started":
            await _call_provider(pool, psp, faults, key, pid)
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
