"""The service processes the supervisor runs: name -> ASGI app, how many processes each gets, and what each
reads from its environment.

Each issue's services join SERVICES. Processes per service: `LAB_WORKERS_<NAME>` (e.g. LAB_WORKERS_ORDERS=2),
else `LAB_WORKERS` (every service), else 1, read when `lastunit up` starts the services. A service's
processes share its port (SO_REUSEPORT, infra/serve.py), each with its own event loop, pool and background
workers; what must happen once (the outbox relay, a lease, a key) is decided in the database, so every
safety property holds at any count. Each process holds its own pool: database connections multiply too.
"""

from __future__ import annotations

import os

SERVICES: dict[str, str] = {
    "inventory": "reference_impl.inventory.app:asgi",
    "catalog": "reference_impl.catalog.app:app",
    "catalog_relay": "reference_impl.catalog.relay_app:app",
    "cart": "reference_impl.cart.app:app",
    "recommendation": "reference_impl.recommendation.app:app",
    "gateway": "reference_impl.gateway.app:app",
    "psp": "reference_impl.psp.app:asgi",
    "payment": "reference_impl.payment.app:asgi",
    "orders": "reference_impl.orders.app:asgi",
    "shipping": "reference_impl.shipping.app:app",
    "notification": "reference_impl.notification.app:app",
}

#: The servers every service reads, and each service's peers and secrets (`lastunit serve` checks them).
DB, REDIS, SECRET = "LAB_DATABASE_URL", "LAB_REDIS_URL", "LAB_PSP_WEBHOOK_SECRET"
NEEDS: dict[str, tuple[str, ...]] = {
    "inventory": (DB, REDIS),
    "catalog": (DB,),
    "catalog_relay": (DB,),
    "cart": (DB, REDIS, "LAB_CATALOG_URL"),
    "recommendation": (REDIS,),
    "gateway": (REDIS, "LAB_CATALOG_URL", "LAB_CART_URL", "LAB_RECOMMENDATION_URL", "LAB_ORDERS_URL"),
    "psp": (DB, SECRET, "LAB_PSP_WEBHOOK_URL"),
    "payment": (DB, REDIS, SECRET, "LAB_PSP_URL"),
    "orders": (DB, REDIS, "LAB_INVENTORY_URL", "LAB_PAYMENT_URL"),
    "shipping": (DB, REDIS),
    "notification": (DB, REDIS),
}

#: One process per service unless told: the model (sim/) and the calibration assume one event loop each,
#: and on a 2-core box more processes only share the same cores.
DEFAULT_WORKERS = 1
#: More processes than this per service is a typo on a lab machine (each holds a pool of connections).
MAX_WORKERS = 16
#: Services that must never run twice: the catalog relay holds a replication slot's position. `LAB_WORKERS`
#: leaves them at one; `LAB_WORKERS_<NAME>` above one is refused for them.
SINGLETONS = frozenset({"catalog_relay"})


def workers_env(name: str) -> str:
    return f"LAB_WORKERS_{name.upper()}"


def _count(var: str, raw: str) -> int:
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{var}={raw!r}: expected a whole number of processes") from None
    if not 1 <= n <= MAX_WORKERS:
        raise ValueError(f"{var}={raw!r}: between 1 and {MAX_WORKERS}")
    return n


def workers(name: str, env=None) -> int:
    """Processes for service `name`: LAB_WORKERS_<NAME>, else LAB_WORKERS, else 1; a bad value is an error
    naming the variable."""
    env = os.environ if env is None else env
    own = env.get(workers_env(name))
    if own:
        n = _count(workers_env(name), own)
        if n > 1 and name in SINGLETONS:
            raise ValueError(f"{workers_env(name)}: {name} runs as one process only")
        return n
    every = env.get("LAB_WORKERS")
    if every and name not in SINGLETONS:
        return _count("LAB_WORKERS", every)
    if every:
        _count("LAB_WORKERS", every)                 # still refuse a bad value
    return DEFAULT_WORKERS
