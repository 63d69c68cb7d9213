"""The service processes the supervisor runs: name -> ASGI app, and how many processes each gets.

Each issue's services join SERVICES. Processes per service: `LAB_WORKERS_<NAME>` (e.g. LAB_WORKERS_INVENTORY=2)
when `lastunit up` starts the services, else 1; the processes of one service share its port (SO_REUSEPORT,
infra/serve.py), each with its own event loop and pool (so its database connections multiply too).
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
    "psp": "reference_impl.psp.app:app",
    "payment": "reference_impl.payment.app:app",
    "orders": "reference_impl.orders.app:app",
    "shipping": "reference_impl.shipping.app:app",
    "notification": "reference_impl.notification.app:app",
}

#: One process per service unless told: the model (sim/) and the calibration assume one event loop each.
DEFAULT_WORKERS = 1
#: More processes than this per service is a typo on a lab machine (each holds a pool of connections).
MAX_WORKERS = 16
#: Services whose state lives in one process and that must never run twice (a relay holding a replication
#: slot's position): LAB_WORKERS_* is refused for them.
SINGLETONS = frozenset({"catalog_relay"})


def workers_env(name: str) -> str:
    return f"LAB_WORKERS_{name.upper()}"


def workers(name: str, env=None) -> int:
    """Processes for service `name`, from LAB_WORKERS_<NAME>; a bad value is an error naming the variable."""
    env = os.environ if env is None else env
    raw = env.get(workers_env(name))
    if raw is None or raw == "":
        return DEFAULT_WORKERS
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{workers_env(name)}={raw!r}: expected a whole number of processes") from None
    if not 1 <= n <= MAX_WORKERS:
        raise ValueError(f"{workers_env(name)}={raw!r}: between 1 and {MAX_WORKERS}")
    if n > 1 and name in SINGLETONS:
        raise ValueError(f"{workers_env(name)}: {name} runs as one process only")
    return n
