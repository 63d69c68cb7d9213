"""The service processes the supervisor runs: name -> ASGI app, the one list `up`, `status` and `down` read."""

SERVICES: dict[str, str] = {
    "inventory": "reference_impl.inventory.app:app",
    "catalog": "reference_impl.catalog.app:app",
    "catalog_relay": "reference_impl.catalog.relay_app:app",
    "cart": "reference_impl.cart.app:app",
    "recommendation": "reference_impl.recommendation.app:app",
    "gateway": "reference_impl.gateway.app:app",
    "psp": "reference_impl.psp.app:app",
    "payment": "reference_impl.payment.app:app",
    "orders": "reference_impl.orders.app:app",
    "shipping": "reference_impl.shipping.app:app",
    "notification": "reference_impl.notification.app:app",
}
