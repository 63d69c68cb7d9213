"""Reading test_decoding's text output: which SKUs a batch of committed transactions touched.

Why only the keys: the relay re-reads the *current* source rows for the touched SKUs and upserts them under
their version, so the index converges on the source whatever order or how many times batches are applied;
parsing every column out of the text format would add risk (quoting) and buy nothing. Why test_decoding:
it ships with PostgreSQL (no extension to install) and its SQL interface (peek, then advance) makes "apply,
then acknowledge" a plain loop with no replication-protocol client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

SOURCE_TABLE = "public.products"
_CHANGE = re.compile(r"^table (?P<table>\S+): (?P<op>INSERT|UPDATE|DELETE|TRUNCATE):(?: sku\[text\]:'(?P<sku>[^']*)')?")
_COMMIT = re.compile(r"^COMMIT(?: \(at (?P<at>[^)]+)\))?")


@dataclass
class Batch:
    """What one peek returned, reduced to what the index needs."""

    rows: int = 0
    changes: int = 0                       # change rows on the source table
    skus: set[str] = field(default_factory=set)
    resync_all: bool = False               # a TRUNCATE: every SKU may have changed
    last_commit_lsn: str | None = None     # advancing the slot here acknowledges every row read
    last_commit_at: datetime | None = None


def parse_commit_time(text: str) -> datetime:
    """`2026-01-02 03:04:05.123456+00` (PostgreSQL's text form) -> an aware datetime."""
    text = text.strip()
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    return datetime.fromisoformat(text)


def parse(rows: list[tuple[str, str]]) -> Batch:
    """rows: (lsn, data) in the order the slot returned them."""
    batch = Batch(rows=len(rows))
    for lsn, data in rows:
        m = _CHANGE.match(data)
        if m:
            if m["table"] != SOURCE_TABLE:
                continue                    # the relay's own index writes, and any other table
            batch.changes += 1
            if m["op"] == "TRUNCATE" or m["sku"] is None:
                batch.resync_all = True
            else:
                batch.skus.add(m["sku"])
            continue
        c = _COMMIT.match(data)
        if c:
            batch.last_commit_lsn = lsn
            if c["at"]:
                batch.last_commit_at = parse_commit_time(c["at"])
    return batch
