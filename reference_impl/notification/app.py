"""The notification service's HTTP side: health and an order's messages. The work is `messages.py`, on the bus."""

from __future__ import annotations

from fastapi import FastAPI

from reference_impl.infra import bus, consumer
from reference_impl.infra.http import install_error_handlers
from reference_impl.infra.service import add_healthz, forever, lifespan
from reference_impl.notification import messages
from scenarios.policy import PRUNE_EVERY_S


def _start(app: FastAPI) -> list:
    return [consumer.consume_forever(app.state.pool, app.state.redis, "notification", messages.handlers()),
            forever(lambda: bus.prune(app.state.pool), PRUNE_EVERY_S, "notification prune")]


app = FastAPI(title="lastunit notification", lifespan=lifespan("notifications", 4, _start))
install_error_handlers(app)
add_healthz(app, "notification")


@app.get("/notifications/{order_id}")
async def of_order(order_id: str):
    return {"order_id": order_id, "notifications": await messages.of_order(app.state.pool, order_id)}
