"""The payment service's HTTP face: authorize with an Idempotency-Key, and the provider's webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reference_impl.infra import bus
from reference_impl.infra.client import ServiceClient
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.run_config import RunConfig
from reference_impl.infra.service import add_healthz, forever, lifespan, until_due
from reference_impl.payment import authorize as auth
from reference_impl.payment import webhooks
from reference_impl.payment.events import PaymentEvents
from reference_impl.policy import PRUNE_EVERY_S

POOL_SIZE = 8
#: The provider answers fast; beyond this its reply is as good as lost (and the key's lock covers it).
PSP_TIMEOUT_S = 2.0


class AuthorizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=100)
    amount: int = Field(gt=0, le=10**9)
    card: str = Field(min_length=4, max_length=32, pattern=r"^[0-9]+$")


def _start(app: FastAPI) -> list:
    app.state.faults = RunConfig(app.state.redis, "payment")
    app.state.psp = ServiceClient("psp", timeout_s=PSP_TIMEOUT_S)
    events = PaymentEvents(app.state.psp)
    listener = app.state.listener
    return [bus.relay_forever(app.state.dsn, app.state.redis, "payment"),
            bus.consume_forever(app.state.pool, app.state.redis, "payment", events.handlers()),
            until_due(lambda: auth.complete_abandoned(app.state.pool, app.state.psp, app.state.faults),
                      listener.event(auth.CHANNEL), "payment completer"),
            forever(lambda: webhooks.prune(app.state.pool), PRUNE_EVERY_S, "webhook id prune")]


async def _stop(app: FastAPI) -> None:
    await app.state.psp.close()


app = FastAPI(title="lastunit payment", lifespan=lifespan("payments", POOL_SIZE, _start, _stop,
                                                          channels=(auth.CHANNEL,)))
install_error_handlers(app)
add_healthz(app, "payment")


@app.post("/payments/authorize")
async def authorize(body: AuthorizeBody,
                    idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
    if not idempotency_key:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header: one per attempt")
    request = body.model_dump()
    got = await auth.begin(app.state.pool, idempotency_key, request)
    if isinstance(got[0], int):                 # stored response: a replay
        return JSONResponse(got[1], status_code=got[0])
    try:
        code, payload = await auth.drive(app.state.pool, app.state.psp, app.state.faults, idempotency_key, *got,
                                         request if got[0] == "started" else None)
    except Exception:
        await auth.wake(app.state.pool)   # the key may be left unfinished: the completer's turn
        raise
    return JSONResponse(payload, status_code=code)


@app.get("/payments/{payment_id}")
async def get_payment(payment_id: str):
    import uuid  # noqa: PLC0415

    try:
        pid = uuid.UUID(payment_id)
    except ValueError:
        raise ApiError(400, "invalid_request", f"payment id {payment_id!r} is not a UUID") from None
    async with app.state.pool.acquire() as conn:
        p = await auth.Q.get_payment(conn, id=pid)
    if p is None:
        raise ApiError(404, "unknown_payment", f"no payment {payment_id}")
    return {k: str(v) if k == "id" else v for k, v in dict(p).items() if k != "card"}


@app.post("/webhooks/psp")
async def psp_webhook(request: Request):
    event = webhooks.verify(await request.body(), request.headers.get("psp-signature"))
    return await webhooks.apply(app.state.pool, event)
