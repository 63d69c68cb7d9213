"""The psp's HTTP API (a stateful stripe-mock). Pools and the webhook worker start in `lifespan`.

Every mutating endpoint needs an Idempotency-Key and goes through `idempotency.run`; reads and the admin
knobs do not. Amounts are integer cents.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Literal

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reference_impl.infra.body_limit import BodyLimit
from reference_impl.infra.fastlane import FastLane, Route, response
from reference_impl.infra.headers import IdempotencyKey, documented, key_doc
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.jsontypes import Flag, WholeNumber
from reference_impl.infra.openapi import errors
from reference_impl.infra.service import lifespan
from reference_impl.psp import charges, config, idempotency
from reference_impl.psp.queries import Q
from reference_impl.psp.webhooks import Deliverer
from scenarios.policy import PROVIDER_KEY_MAX_LEN

log = logging.getLogger("lastunit.psp")

#: Every request is one short transaction; the worker holds one more connection while it delivers.
POOL_SIZE = int(os.environ.get("LAB_PSP_POOL", "8"))
#: The contract's bound: a billion cents is more than any basket, and far inside bigint.
MAX_AMOUNT = 10**9

Card = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_ -]+$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")]
KeyHeader = IdempotencyKey
#: Every mutating call: the key, declared required (missing or too long: 400, idempotency.check_key).
KEYED = {"responses": errors(400, 409), "openapi_extra": documented(key_doc(PROVIDER_KEY_MAX_LEN))}


class ChargeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: WholeNumber = Field(gt=0, le=MAX_AMOUNT)
    currency: Literal["usd"]
    card: Card
    reference: Reference
    webhook_url: Url | None = None


class FlushBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: Flag = False


async def _start(app: FastAPI) -> list:
    """The knobs its processes share, and the webhook sender (the provider's own outbox)."""
    app.state.knobs = config.KnobCache(app.state.pool)
    await app.state.knobs.get()
    app.state.deliverer = Deliverer(app.state.pool, config.webhook_secret(log), app.state.knobs.get,
                                    config.default_webhook_url())
    return [app.state.deliverer.run_forever()]


app = FastAPI(title="lastunit psp (payment provider fake)", lifespan=lifespan("psp", POOL_SIZE, _start, redis=False))
install_error_handlers(app)


def _answer(reply: idempotency.Reply) -> tuple[int, dict, dict]:
    app.state.deliverer.wake.set()   # a new outbox event may be waiting
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
    return reply.status, reply.body, headers


@app.get("/healthz")
async def healthz():
    async with app.state.pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return {"ok": True, "service": "psp", "pid": os.getpid()}


@app.post("/v1/charges", **KEYED)
async def create_charge(body: ChargeBody, idempotency_key: KeyHeader = None):
    return response(await charge_answer(body, idempotency_key))


async def charge_answer(body: ChargeBody, idempotency_key: str | None) -> tuple[int, dict, dict]:
    """POST /v1/charges as (status, payload, headers), for the FastAPI route and the fast lane."""
    key = idempotency.check_key(idempotency_key)
    fp = idempotency.fingerprint("POST", "/v1/charges", body.model_dump())
    knobs = await app.state.knobs.get()

    async def work(conn, token):
        return await charges.authorize(conn, knobs, key, token, body.amount, body.currency, body.card,
                                       body.reference, body.webhook_url)

    return _answer(await idempotency.run(app.state.pool, key, fp, work))


async def move_answer(charge_id: str, action: str, idempotency_key: str | None) -> tuple[int, dict, dict]:
    """POST /v1/charges/{id}/capture, /void or /refund, for the FastAPI routes and the fast lane."""
    key = idempotency.check_key(idempotency_key)
    fp = idempotency.fingerprint("POST", f"/v1/charges/{charge_id}/{action}", None)
    knobs = await app.state.knobs.get()

    async def work(conn, token):
        return await charges.move(conn, knobs, key, token, charge_id, action)

    return _answer(await idempotency.run(app.state.pool, key, fp, work))


@app.post("/v1/charges/{charge_id}/capture", **KEYED | {"responses": errors(400, 404, 409)})
async def capture(charge_id: str, idempotency_key: KeyHeader = None):
    return response(await move_answer(charge_id, "capture", idempotency_key))


@app.post("/v1/charges/{charge_id}/void", **KEYED | {"responses": errors(400, 404, 409)})
async def void(charge_id: str, idempotency_key: KeyHeader = None):
    return response(await move_answer(charge_id, "void", idempotency_key))


@app.post("/v1/charges/{charge_id}/refund", **KEYED | {"responses": errors(400, 404, 409)})
async def refund(charge_id: str, idempotency_key: KeyHeader = None):
    return response(await move_answer(charge_id, "refund", idempotency_key))


@app.get("/v1/charges/{charge_id}", responses=errors(404))
async def get_charge(charge_id: str):
    async with app.state.pool.acquire() as conn:
        row = await Q.get_charge(conn, id=charge_id)
    if row is None:
        raise ApiError(404, "unknown_charge", f"no charge {charge_id!r}")
    return charges.charge_json(row)


@app.get("/v1/charges")
async def list_charges(reference: Annotated[str, Query(min_length=1, max_length=200)]):
    """How the payment service finds a charge whose reply it never got: by its own reference."""
    async with app.state.pool.acquire() as conn:
        rows = [r async for r in Q.charges_by_reference(conn, reference=reference)]
    return {"data": [charges.charge_json(r) for r in rows]}


@app.get("/admin/config")
async def get_config():
    return (await app.state.knobs.get()).model_dump()


@app.post("/admin/config")
async def set_config(patch: config.KnobsPatch):
    return (await app.state.knobs.update(patch)).model_dump()


@app.post("/admin/flush_webhooks")
async def flush_webhooks(body: FlushBody | None = None):
    claimed = await app.state.deliverer.flush(everything=bool(body and body.all))
    async with app.state.pool.acquire() as conn:
        pending = await Q.pending_count(conn)
    return {"claimed": claimed, "pending": pending}


@app.get("/admin/webhooks")
async def webhook_log(charge_id: Annotated[str, Query(min_length=1, max_length=200)]):
    """Every delivery attempt of one charge's events, in order: what tests and notebooks inspect."""
    async with app.state.pool.acquire() as conn:
        rows = [dict(r) async for r in Q.event_log(conn, charge_id=charge_id)]
    return {"data": [r | {"at": r["at"].isoformat()} for r in rows]}


def _moving(action: str) -> Route:
    return Route("POST", f"/v1/charges/{{charge_id}}/{action}",
                 lambda call: move_answer(call.params["charge_id"], action, call.header("Idempotency-Key")))


#: What uvicorn serves: the charge and its moves on the fast lane (infra/fastlane.py), everything else
#: through FastAPI; the body cap in front of both.
asgi = BodyLimit(FastLane(app, [
    Route("POST", "/v1/charges", lambda call: charge_answer(call.body, call.header("Idempotency-Key")),
          body=ChargeBody),
    *(_moving(action) for action in ("capture", "void", "refund")),
]))
