"""Reading test_decoding's output, and the facet buckets the API and the tests share."""

from __future__ import annotations

from reference_impl.catalog.changes import parse, parse_commit_time
from reference_impl.catalog.search import price_bucket

ROWS = [
    ("0/1", "BEGIN"),
    ("0/2", "table public.products: UPDATE: sku[text]:'A-1' title[text]:'it''s' price[numeric]:3.00"),
    ("0/3", "table public.search_docs: INSERT: sku[text]:'A-9' title[text]:'x'"),
    ("0/4", "table public.products: DELETE: sku[text]:'B.2'"),
    ("0/5", "COMMIT (at 2026-01-02 03:04:05.123456+00)"),
]


def test_parse_keeps_source_keys_and_the_last_commit():
    b = parse(ROWS)
    assert b.skus == {"A-1", "B.2"} and b.changes == 2 and b.rows == 5 and not b.resync_all
    assert b.last_commit_lsn == "0/5" and b.last_commit_at.year == 2026
    assert b.last_commit_at.utcoffset() is not None


def test_truncate_asks_for_a_full_resync():
    b = parse([("0/1", "BEGIN"), ("0/2", "table public.products: TRUNCATE: (no-flags)"), ("0/3", "COMMIT")])
    assert b.resync_all and b.last_commit_lsn == "0/3" and b.last_commit_at is None


def test_commit_time_offsets():
    assert parse_commit_time("2026-01-02 03:04:05+05:30").utcoffset().seconds == 19800
    assert parse_commit_time("2026-01-02 03:04:05.1-03").utcoffset().days == -1


def test_price_buckets_are_lower_inclusive():
    assert [price_bucket(p) for p in (0, 24.99, 25, 499.99, 500, 10**6)] == \
        ["0-25", "0-25", "25-50", "250-500", "500+", "500+"]
