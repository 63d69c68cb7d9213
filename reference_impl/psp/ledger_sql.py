"""The auditor's view of the provider's ledger: sync psycopg functions over `sql/ledger.sql`.

Read-only and direct (no HTTP): the auditor trusts the provider's tables, not its API or the shop's own
bookkeeping. Each function takes an open psycopg connection to database lastunit_psp
(`database_url(server_url, "psp")`).
"""

from __future__ import annotations

from importlib import resources

import aiosql

LEDGER_SQL = resources.files("reference_impl.psp") / "sql" / "ledger.sql"
L = aiosql.from_path(str(LEDGER_SQL), "psycopg", mandatory_parameters=False)


def total_captured(conn) -> int:
    """Cents ever captured (refunded or not)."""
    return int(L.total_captured(conn))


def total_refunded(conn) -> int:
    """Cents refunded, as a positive number."""
    return int(L.total_refunded(conn))


def net_captured(conn) -> int:
    """Captured minus refunded: the psp side of money conservation."""
    return int(L.net_captured(conn))


def captures_per_reference(conn, net_only: bool = False) -> list[dict]:
    """References (orders) with more than one capture: the first witnesses of a double charge."""
    return [{"reference": r[0], "captures": r[1], "charge_ids": list(r[2])}
            for r in L.captures_per_reference(conn, net_only=net_only)]


def charges_per_key(conn) -> list[dict]:
    """Idempotency keys that created more than one charge (should be impossible: the key is the guard)."""
    return [{"idempotency_key": r[0], "charges": r[1], "charge_ids": list(r[2])}
            for r in L.charges_per_key(conn)]


def charges_per_reference(conn) -> list[dict]:
    """References with several charges, live ones counted apart (a decline then a retry is fine)."""
    return [{"reference": r[0], "charges": r[1], "live": r[2]} for r in L.charges_per_reference(conn)]
