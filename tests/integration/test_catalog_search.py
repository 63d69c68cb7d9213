"""Search results and facet counts equal a brute-force count over the source; an update shows in search.

The index is fed only by change data capture, so every assertion here also proves the relay carried the
writes across. Each test tags its products with a unique token, so the shared index's other rows never
count.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import STACK
from tests.integration.catalog_helpers import brute_force, indexed, make_products, require_cdc, wait_until

pytestmark = STACK
N = 150


@pytest.fixture
def api(lab):
    require_cdc(lab)
    with httpx.Client(base_url=lab["catalog"]["url"], timeout=30) as c:
        yield c


@pytest.fixture
def catalog(api, unique):
    tag = unique("zq").replace("-", "")
    docs = make_products(tag, N, seed=6)
    for sku, doc in docs.items():
        r = api.put(f"/products/{sku}", json=doc)
        assert r.status_code == 200, r.text
    wait_until(lambda: len(indexed(api, tag)) == N, what="the relay to index the new products")
    return tag, docs


def _queries(tag: str) -> list[dict]:
    return [
        {"q": tag},
        {"q": f"{tag} alfa"},
        {"q": f"{tag} bravo charlie"},
        {"q": tag, "brand": f"{tag}b1"},
        {"category": f"{tag}c2"},
        {"category": f"{tag}c0", "brand": f"{tag}b3"},
        {"q": tag, "price_min": 20, "price_max": 120},
        {"q": f"{tag} delta", "rating_min": 3.5},
        {"category": f"{tag}c1", "price_min": 100, "rating_min": 2},
        {"q": f"{tag} zulu", "category": f"{tag}c3", "price_max": 50},
    ]


def test_results_and_facets_equal_brute_force(api, catalog):
    tag, docs = catalog
    for query in _queries(tag):
        want_skus, want_facets = brute_force(docs, **query)
        got, page = set(), 1
        while True:
            body = api.get("/search", params=query | {"size": 40, "page": page}).json()
            assert body["total"] == len(want_skus), query
            assert body["facets"] == want_facets, query
            scores = [it["score"] for it in body["items"]]
            assert scores == sorted(scores, reverse=True), "ranked best first"
            got |= {it["sku"] for it in body["items"]}
            if len(body["items"]) < 40:
                break
            page += 1
        assert got == want_skus, query


def test_update_at_source_shows_in_search_and_lag_is_reported(api, catalog):
    tag, docs = catalog
    sku = next(iter(docs))
    r = api.put(f"/products/{sku}/price", json={"price": "777.77"})
    assert r.status_code == 200
    version = r.json()["version"]
    wait_until(lambda: indexed(api, tag)[sku]["source_version"] == version, what="the price change")
    assert indexed(api, tag)[sku]["price"] == 777.77
    assert api.get("/products/" + sku).json()["price"] == 777.77
    lag = api.get("/cdc/lag").json()
    assert {"lag_bytes", "apply_delay_ms", "last_commit_at", "changes"} <= set(lag)
    assert lag["changes"] >= N


def test_delete_leaves_the_index(api, catalog):
    tag, docs = catalog
    sku = next(iter(docs))
    assert api.delete(f"/products/{sku}").status_code == 200
    wait_until(lambda: sku not in indexed(api, tag), what="the delete to reach the index")
    assert api.get(f"/products/{sku}").status_code == 404


BAD = [
    {"page": 0}, {"page": "x"}, {"size": 1000}, {"price_min": -1}, {"price_min": "cheap"},
    {"rating_min": 9}, {"q": "x" * 500}, {"page": 10_000},
    {"brand": ""},
]


@pytest.mark.parametrize("params", BAD, ids=[str(b)[:40] for b in BAD])
def test_malformed_search_is_4xx_with_a_message(api, params):
    r = api.get("/search", params=params)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"] and r.json()["detail"]


@pytest.mark.parametrize("body", [{}, {"title": "x"}, {"title": "x", "brand": "b", "category": "c", "price": -1},
                                  {"title": "x", "brand": "b", "category": "c", "price": 1, "rating": 7},
                                  {"title": "x", "brand": "b", "category": "c", "price": 1, "color": "red"},
                                  {"title": "x", "brand": "b", "category": "c", "price": 1, "images": ["ftp:x"]}])
def test_malformed_product_bodies_are_422(api, unique, body):
    r = api.put(f"/products/{unique('bad')}", json=body)
    assert r.status_code == 422 and r.json()["detail"]


def test_bad_sku_paths(api):
    assert api.get("/products/a%20b").status_code == 422
    assert api.get("/products/nope-never-made").status_code == 404
    assert api.put("/products/nope-never-made/price", json={"price": 1}).status_code == 404


def test_an_empty_price_range_finds_nothing(api):
    r = api.get("/search", params={"price_min": 50, "price_max": 10})
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0
