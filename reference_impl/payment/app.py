"""The payment service's HTTP face: authorize with an Idempotency-Key, and the provider's webhook."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from reference_impl.infra import consumer, relay
from reference_impl.infra.body_limit import BodyLimit
from reference_impl.infra.client import ServiceClient
from reference_impl.infra.fastlane import FastLane, Route, response
from reference_impl.infra.headers import IdempotencyKey, documented, key_doc, require_key
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.jsontypes import WholeNumber
from reference_impl.infra.openapi import errors
from reference_impl.infra.run_config import RunConfig
from reference_impl.infra.service import add_healthz, forever, lifespan, until_due
from reference_impl.payment import authorize as auth
from reference_impl.payment import webhooks
from reference_impl.payment.events import PaymentEvents
from scenarios.policy import PAYMENT_KEY_MAX_LEN, PRUNE_EVERY_S

POOL_SIZE = 8
#: The provider answers fast; beyond this its reply is as good as lost (and the key's lock covers it).
PSP_TIMEOUT_S = 2.0


class AuthorizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=100)
    amount: WholeNumber = Field(gt=0, le=10**9)
    card: str = Field(min_length=4, max_length=32, pattern=r"^[0-9]+$")


def _start(app: FastAPI) -> list:
    app.state.faults = RunConfig(app.state.redis, "payment")
    app.state.psp = ServiceClient("psp", timeout_s=PSP_TIMEOUT_S)
    events = PaymentEvents(app.state.psp)
    listener = app.state.listener
    return [app.state.faults.watch(), relay.relay_forever(app.state.dsn, app.state.redis, "payment"),
            consumer.consume_forever(app.state.pool, app.state.redis, "payment", events.handlers()),
            until_due(lambda: auth.complete_abandoned(app.state.pool, app.state.psp, app.state.faults),
                      listener.event(auth.CHANNEL), "payment completer"),
            forever(lambda: webhooks.prune(app.state.pool), PRUNE_EVERY_S, "webhook id prune")]


async def _stop(app: FastAPI) -> None:
    await app.state.psp.close()


app = FastAPI(title="lastunit payment", lifespan=lifespan("payments", POOL_SIZE, _start, _stop,
                                                          channels=(auth.CHANNEL,)))
install_error_handlers(app)
add_healthz(app, "payment")


@app.post("/payments/authorize", status_code=201, responses=errors(400, 402, 409),
          openapi_extra=documented(key_doc(PAYMENT_KEY_MAX_LEN)))
async def authorize(body: AuthorizeBody, idempotency_key: IdempotencyKey = None):
    """201 authorized, 402 declined, 422 `provider_refused` (the provider refused it for good: never charged);
    the same key replays the stored answer."""
    return response(await authorize_answer(body, idempotency_key))


async def authorize_answer(body: AuthorizeBody, idempotency_key: str | None) -> tuple[int, dict]:
    """POST /payments/authorize as (status, payload), for the FastAPI route and the fast lane."""
    idempotency_key = require_key(idempotency_key, PAYMENT_KEY_MAX_LEN)
    request = body.model_dump()
    got = await auth.begin(app.state.pool, idempotency_key, request)
    if isinstance(got[0], int):                 # stored response: a replay
        return got[0], got[1]
    try:
        code, payload = await auth.drive(app.state.pool, app.state.psp, app.state.faults, idempotency_key, *got,
                                         request if got[0] == "started" else None)
    except Exception:
        await auth.wake(app.state.pool)   # the key may be left unfinished: the completer's turn
        raise
    return code, payload


@app.get("/payments/{payment_id:uuid}", responses=errors(404))
async def get_payment(payment_id: uuid.UUID):
    """Only a UUID is an id here (a path convertor, so GET /payments/authorize is a 405, not a bad id)."""
    async with app.state.pool.acquire() as conn:
        p = await auth.Q.get_payment(conn, id=payment_id)
    if p is None:
        raise ApiError(404, "unknown_payment", f"no payment {payment_id}")
    return {k: str(v) if k == "id" else v for k, v in dict(p).items() if k != "card"}


@app.post("/webhooks/psp", responses=errors(400),
          openapi_extra=documented(("psp-signature", 1000, "t=<unix time>,v1=<HMAC-SHA256 of 't.body'>"))
          | {"requestBody": {"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["id", "type", "data"],
              "properties": {"id": {"type": "string"}, "type": {"type": "string"}, "data": {"type": "object"}}}}}}})
async def psp_webhook(request: Request):
    """The provider's signed event. Unsigned, stale or malformed events get 400 and change nothing."""
    return response(await webhook_answer(await request.body(), request.headers.get("psp-signature")))


async def webhook_answer(raw: bytes, signature: str | None) -> tuple[int, dict]:
    """POST /webhooks/psp as (status, payload), for the FastAPI route and the fast lane: the signature is
    over the raw body, so both hand over the bytes as received."""
    return 200, await webhooks.apply(app.state.pool, webhooks.verify(raw, signature))


#: What uvicorn serves: the checkout's routes on the fast lane (infra/fastlane.py), everything else through
#: FastAPI; the body cap in front of both.
asgi = BodyLimit(FastLane(app, [
    Route("POST", "/payments/authorize", lambda call: authorize_answer(call.body, call.header("Idempotency-Key")),
          body=AuthorizeBody),
    Route("POST", "/webhooks/psp", lambda call: webhook_answer(call.raw, call.header("psp-signature")), raw=True),
]))
