"""The shipping service's HTTP side: its health and a shipment's state. The work is `labels.py`, on the bus."""

from __future__ import annotations

from fastapi import FastAPI

from reference_impl.infra import consumer, relay
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.openapi import errors
from reference_impl.infra.run_config import RunConfig
from reference_impl.infra.service import add_healthz, lifespan
from reference_impl.shipping.labels import Shipping, shipment_of


def _start(app: FastAPI) -> list:
    config = RunConfig(app.state.redis, "shipping")
    shipping = Shipping(config)
    return [config.watch(), relay.relay_forever(app.state.dsn, app.state.redis, "shipping"),
            consumer.consume_forever(app.state.pool, app.state.redis, "shipping", shipping.handlers())]


app = FastAPI(title="lastunit shipping", lifespan=lifespan("shipping", 4, _start))
install_error_handlers(app)
add_healthz(app, "shipping")


@app.get("/shipments/{order_id}", responses=errors(404))
async def shipment(order_id: str):
    row = await shipment_of(app.state.pool, order_id)
    if row is None:
        raise ApiError(404, "unknown_shipment", f"no shipment for order {order_id}")
    return row
