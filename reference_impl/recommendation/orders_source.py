"""The shop's own purchases as the batch's input: the lines of paid orders since the last build's watermark,
each with its basket (the grouping is one SQL block, `sql/paid_baskets.sql`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.states import PAID_FOR

Q = aiosql.from_path(str(resources.files("reference_impl.recommendation") / "sql" / "paid_baskets.sql"),
                     "psycopg", mandatory_parameters=False)
#: A status change stamps `updated_at` inside its statement and becomes visible at commit, a little later: a
#: build reading in between misses the row and stores a watermark past its stamp. So each build rereads the
#: rows stamped this long before the last watermark (what it counted already adds nothing, merge.py). The
#: orders service's transactions last milliseconds; a minute covers a stalled commit with room to spare,
#: and costs rereading one minute of paid orders per build.
OVERLAP_S = 60.0


def read_paid_lines(server_url: str, watermark: datetime | None) -> tuple[list[tuple[str, str]], datetime]:
    """((basket, sku) for every line of an order paid for and touched since `watermark` - OVERLAP_S, or of
    every such order with no watermark; the new watermark)."""
    since = watermark - timedelta(seconds=OVERLAP_S) if watermark else None
    with psycopg.connect(database_url(server_url, "orders")) as conn, conn.transaction():
        read_at = Q.read_time(conn)
        rows = [(basket, sku) for basket, sku in Q.paid_lines_since(
            conn, statuses=[s.value for s in PAID_FOR], since=since)]
    return rows, read_at
