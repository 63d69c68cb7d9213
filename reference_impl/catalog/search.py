"""Search and facets over the index, shaped for the API. The SQL is in sql/search.sql.

Facet semantics (one rule, so a brute-force count can check it): every facet counts the matched set with
ALL filters applied, so each facet's counts add up to `total` (rating facets are cumulative "t stars and
up", as shops show them).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import aiosql

Q = aiosql.from_path(str(resources.files("reference_impl.catalog") / "sql"), "asyncpg",
                    mandatory_parameters=False)

#: Price range facet edges (currency units): bucket i holds EDGES[i-1] <= price < EDGES[i].
PRICE_EDGES = (25, 50, 100, 250, 500)
#: Rating facet thresholds, "t stars and up".
RATING_STEPS = (4, 3, 2, 1)
PAGE_SIZE = 20
#: Deep pages cost a sort of everything before them; shops cap them (and so do search engines: 10,000).
MAX_RESULT_WINDOW = 10_000
#: The largest page, and so the last page: their product is the window, whatever the page size.
MAX_PAGE_SIZE = 100
MAX_PAGE = MAX_RESULT_WINDOW // MAX_PAGE_SIZE
#: Brand and category facets show the most frequent values only: a 100,000-SKU catalog has hundreds.
FACET_LIMIT = 50


def price_label(bucket: int) -> str:
    """width_bucket's index -> "lo-hi" ("500+" for the last, "0-25" for the first)."""
    if bucket == 0:
        return f"0-{PRICE_EDGES[0]}"
    if bucket >= len(PRICE_EDGES):
        return f"{PRICE_EDGES[-1]}+"
    return f"{PRICE_EDGES[bucket - 1]}-{PRICE_EDGES[bucket]}"


def price_bucket(price: float) -> str:
    """The same bucketing in Python: for tests' brute force and for anyone building links."""
    return price_label(sum(1 for e in PRICE_EDGES if price >= e))


@dataclass(frozen=True)
class Query:
    q: str | None = None
    brand: str | None = None
    category: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    page: int = 1
    size: int = PAGE_SIZE

    def params(self) -> dict:
        def dec(v):
            return (None if v is None else Decimal(str(v)))
        q = self.q.strip() if self.q else None
        return {"q": q or None, "brand": self.brand, "category": self.category,
                "price_min": dec(self.price_min), "price_max": dec(self.price_max),
                "rating_min": dec(self.rating_min)}


def _num(v):
    return float(v) if isinstance(v, Decimal) else v


async def search(conn, query: Query) -> dict:
    p = query.params()
    rows = [dict(r) async for r in Q.search(conn, **p, size=query.size, offset=(query.page - 1) * query.size)]
    facets: dict[str, dict] = {"brand": {}, "category": {}, "price": {}, "rating": {}}
    total, buckets = 0, {}
    async for r in Q.facets(conn, **p, price_edges=[Decimal(e) for e in PRICE_EDGES],
                            rating_steps=[Decimal(s) for s in RATING_STEPS]):
        if r["facet"] == "total":
            total = r["n"]
        elif r["facet"] == "price":
            buckets[int(r["value"])] = r["n"]
        else:
            facets[r["facet"]][r["value"]] = r["n"]
    facets["price"] = {price_label(b): n for b, n in sorted(buckets.items())}
    for name in ("brand", "category"):
        facets[name] = dict(sorted(facets[name].items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_LIMIT])
    items = [{k: _num(v) for k, v in r.items()} for r in rows]
    return {"total": total, "page": query.page, "size": query.size, "items": items, "facets": facets}
