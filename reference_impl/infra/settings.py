"""How services find their databases on the shared cluster.

Where the lab's own folders are is the contract's (`scenarios/paths.py`); which database a service owns is
the real stack's business, kept here.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

#: Every service owns one database on the shared cluster; the prefix keeps us off other people's databases
#: when `DATABASE_URL` names a shared server.
DB_PREFIX = "lastunit_"
SERVICE_DATABASES = ("inventory", "orders", "payments", "shipping", "catalog", "psp", "notifications", "cart",
                     "gateway")
#: Databases that publish or consume events get the outbox and de-duplication tables.
EVENT_DATABASES = ("orders", "payments", "shipping", "notifications")


def database_url(server_url: str, service: str) -> str:
    """The URL of one service's database on the cluster named by `server_url`."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + DB_PREFIX + service))
