"""Shared by the catalog tests: a small random catalog tagged per test, a brute-force search, waiting."""

from __future__ import annotations

import random
import re

from reference_impl.catalog.search import RATING_STEPS, price_bucket
from reference_impl.infra.procs import wait_for

WORDS = ("alfa bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def make_products(tag: str, n: int, seed: int) -> dict[str, dict]:
    """n products whose titles all carry the token `tag`; brands and categories unique to this tag."""
    rng = random.Random(seed)
    out = {}
    for i in range(n):
        out[f"{tag}-{i:04d}"] = {
            "title": f"{tag} " + " ".join(rng.sample(WORDS, 3)),
            "description": " ".join(rng.sample(WORDS, 2)),
            "brand": f"{tag}b{rng.randrange(5)}",
            "category": f"{tag}c{rng.randrange(4)}",
            "price": f"{rng.choice([rng.uniform(1, 30), rng.uniform(20, 120), rng.uniform(90, 900)]):.2f}",
            "rating": f"{rng.randrange(0, 51) / 10:.1f}",
            "images": [f"https://img.example/{tag}/{i}.jpg"],
        }
    return out


def words(doc: dict) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", " ".join([doc["title"], doc["description"], doc["brand"],
                                                    doc["category"]]).lower()))


def brute_force(docs: dict[str, dict], q=None, brand=None, category=None, price_min=None, price_max=None,
                rating_min=None) -> tuple[set[str], dict]:
    """Every filter by hand over the source documents: the matched SKUs and the facet counts."""
    hits = {}
    for sku, d in docs.items():
        price, rating = float(d["price"]), float(d["rating"])
        if q and not set(q.lower().split()) <= words(d):
            continue
        if (brand and d["brand"] != brand) or (category and d["category"] != category):
            continue
        if (price_min is not None and price < price_min) or (price_max is not None and price > price_max):
            continue
        if rating_min is not None and rating < rating_min:
            continue
        hits[sku] = d
    facets = {"brand": {}, "category": {}, "price": {}, "rating": {}}
    for d in hits.values():
        for name, value in (("brand", d["brand"]), ("category", d["category"]),
                            ("price", price_bucket(float(d["price"])))):
            facets[name][value] = facets[name].get(value, 0) + 1
    facets["rating"] = {str(t): sum(1 for d in hits.values() if float(d["rating"]) >= t) for t in RATING_STEPS}
    return set(hits), facets


def require_cdc(lab) -> None:
    """Fail fast, saying why, when the relay cannot decode (rather than time out on every wait)."""
    import httpx  # noqa: PLC0415

    def relay_settled():
        try:
            st = httpx.get(lab["catalog_relay"]["url"] + "/status", timeout=10).json()
        except httpx.HTTPError:
            return None
        return st if st.get("last_error") or st.get("confirmed_lsn") else None

    st = wait_until(relay_settled, timeout=30, what="the catalog relay to start")
    if st.get("last_error") and "wal_level" in st["last_error"]:
        raise AssertionError(f"change data capture is off: {st['last_error']} (PostgreSQL must run with "
                             "wal_level=logical: see LOGICAL_DECODING in infra/servers/postgres.py)")


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    """The relay is another process that signals nothing: the lab's one bounded wait, as an assertion."""
    try:
        return wait_for(predicate, timeout, what, interval=0.1)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


def indexed(api, tag: str) -> dict[str, dict]:
    """Every document of this tag the index holds now: sku -> item (price, source_version, ...)."""
    out, page = {}, 1
    while True:
        body = api.get("/search", params={"q": tag, "size": 100, "page": page}).json()
        out |= {it["sku"]: it for it in body["items"]}
        if len(body["items"]) < 100:
            return out
        page += 1
