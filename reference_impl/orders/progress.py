"""How far a batch of checkouts has got, for tools outside the service (the benchmark waits on it): sync
psycopg over `sql/progress.sql`, like the auditor's view of the provider (psp/ledger_sql.py)."""

from __future__ import annotations

from importlib import resources

import aiosql
import psycopg

from reference_impl.infra.settings import database_url

P = aiosql.from_path(str(resources.files("reference_impl.orders") / "sql" / "progress.sql"), "psycopg",
                     mandatory_parameters=False)


def open_orders(server_url: str, keys: list[str]) -> int:
    """How many of these checkouts' orders are not final (shipped or cancelled) yet."""
    with psycopg.connect(database_url(server_url, "orders")) as conn:
        return int(P.open_orders(conn, keys=keys))


def last_step_at(server_url: str, keys: list[str]) -> float | None:
    """Unix time of the last saga step logged for these checkouts' orders (None: no order at all)."""
    with psycopg.connect(database_url(server_url, "orders")) as conn:
        return P.last_step_at(conn, keys=keys)
