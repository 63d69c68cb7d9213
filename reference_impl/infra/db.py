"""Databases, migrations and pools.

One database per service on one cluster. Migrations are each service's `schema.sql`, applied once per
content hash under an advisory lock, so `lastunit up` is safe to repeat and to run twice at once.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import psycopg
from psycopg import sql

from reference_impl.infra.settings import DB_PREFIX, EVENT_DATABASES, SERVICE_DATABASES, database_url

#: Any fixed number works; it only has to be the same for every `up`.
MIGRATION_LOCK = 0x1A57_0417


def ensure_databases(server_url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        have = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for service in SERVICE_DATABASES:
            name = DB_PREFIX + service
            if name not in have:
                try:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                except psycopg.errors.DuplicateDatabase:
                    pass  # another `up` won the race


#: Databases whose service package is named differently from the database.
PACKAGE_OF = {"payments": "payment", "notifications": "notification"}


def schema_of(database: str) -> str | None:
    """The DDL of one database: its service's schema.sql, plus the outbox where events flow."""
    parts = []
    if database in EVENT_DATABASES:
        parts.append((resources.files("reference_impl.infra") / "outbox.sql").read_text())
    try:
        parts.append((resources.files(f"reference_impl.{PACKAGE_OF.get(database, database)}")
                      / "schema.sql").read_text())
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    return "\n".join(parts) or None


def migrate(server_url: str) -> list[str]:
    """Apply every service's schema.sql not yet applied at its current hash; return what ran."""
    applied = []
    for service in SERVICE_DATABASES:
        ddl = schema_of(service)
        if ddl is None:
            continue
        digest = hashlib.sha256(ddl.encode()).hexdigest()
        with psycopg.connect(database_url(server_url, service)) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS lab_migrations (sha256 text PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())")
            if conn.execute("SELECT 1 FROM lab_migrations WHERE sha256 = %s", (digest,)).fetchone():
                continue
            conn.execute(ddl)
            conn.execute("INSERT INTO lab_migrations (sha256) VALUES (%s)", (digest,))
            applied.append(service)
    return applied


async def _no_reset(conn) -> None:
    """Our transactions set nothing that outlives them (isolation and timeouts are per transaction), so the
    pool's RESET ALL round trip on every release buys nothing: skipping it measured +35-55% here."""


async def create_pool(dsn: str, max_size: int, warm: bool = False):
    """A pool that opens 2 connections and grows on demand, or with `warm` every one of them up front.

    Why warm: a connection opened during a burst costs a backend fork and a SCRAM handshake, milliseconds
    of CPU on the service's one event loop, and asyncpg closes connections idle for 5 minutes, so the
    first burst after a quiet spell paid it again: a 32-buyer race took 35 ms where 16 buyers took 10.
    The checkout's hot path keeps its pool open; the other services grow theirs as they need to.
    """
    import asyncpg  # noqa: PLC0415 - services only; sync tools never load it

    if warm:
        return await asyncpg.create_pool(dsn, min_size=max_size, max_size=max_size, reset=_no_reset,
                                         max_inactive_connection_lifetime=0)
    return await asyncpg.create_pool(dsn, min_size=min(2, max_size), max_size=max_size, reset=_no_reset)
