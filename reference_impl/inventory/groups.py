"""After a multi-line reservation: its lines are sold, released or expired together, never one by one.

Why one statement per group (sql/lines.sql: settle_group): the group row moves first, so two settlements
(a commit racing the sweeper, a release retried) serialize on it and the second does nothing; the group's
stock rows are locked in (sku, warehouse) order, the reservations' own lock order, so a settlement never
closes a deadlock cycle with a buyer. A single line of a group refuses to be settled alone (lifecycle.sql).
"""

from __future__ import annotations

from datetime import datetime

from reference_impl.inventory.lines import group_of
from reference_impl.inventory.reserve import Q

#: Settlement verbs and the state each leaves the group and its lines in.
TO_STATE = {"commit": "committed", "release": "released", "expire": "expired"}
#: Groups expired per sweep query: one statement each, so a backlog is worked through in bounded bites.
SWEEP_GROUPS_BATCH = 200


async def get_group(conn, group_id) -> dict | None:
    return group_of([r async for r in Q.group_lines(conn, id=group_id, attempt_id=None)])


async def settle_group(conn, group_id, action: str) -> list[dict]:
    """Move every held line of the group to the action's state; [] when the group was not held."""
    return [dict(r) async for r in Q.settle_group(conn, id=group_id, to_state=TO_STATE[action])]


async def sweep_groups(conn, as_of: datetime) -> int:
    """Expire every group held past its TTL at `as_of`, each with all its lines; return how many groups."""
    total = 0
    while True:
        due = [r["id"] async for r in Q.due_groups(conn, as_of=as_of, batch=SWEEP_GROUPS_BATCH)]
        for gid in due:
            if await settle_group(conn, gid, "expire"):
                total += 1
        if len(due) < SWEEP_GROUPS_BATCH:
            return total


async def deadlock_counts(conn) -> list[dict]:
    return [dict(r) async for r in Q.deadlock_counts(conn)]
