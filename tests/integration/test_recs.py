"""Recommendations equal a brute-force co-occurrence count on a small history; clicks move items up.

The history uses SKUs unique to the test, so the batch it publishes answers only for them; the read path
is exercised through the running recommendation service.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import httpx
import pandas as pd
import pytest

from reference_impl.recommendation.batch import build
from tests.conftest import STACK

pytestmark = STACK


def _history(tag: str, seed: int = 3) -> pd.DataFrame:
    rng = random.Random(seed)
    skus = [f"{tag}-{i}" for i in range(12)]
    rows = []
    for o in range(300):
        for sku in rng.sample(skus, rng.randint(1, 4)):
            rows.append((f"{tag}-o{o}", sku))
    return pd.DataFrame(rows, columns=["order_id", "sku"])


def _brute_force(history: pd.DataFrame) -> dict[str, list[tuple[str, int]]]:
    counts: Counter = Counter()
    for _, group in history.groupby("order_id"):
        for a, b in itertools.permutations(sorted(set(group["sku"])), 2):
            counts[(a, b)] += 1
    out: dict[str, list[tuple[str, int]]] = {}
    for (a, b), n in counts.items():
        out.setdefault(a, []).append((b, n))
    return {a: sorted(v, key=lambda p: (-p[1], p[0])) for a, v in out.items()}


@pytest.fixture
def recs(lab):
    with httpx.Client(base_url=lab["recommendation"]["url"], timeout=30) as c:
        yield c


@pytest.fixture
def built(lab, unique):
    history = _history(unique("r"))
    meta = build(lab["redis"]["url"], history)
    return history, meta


def test_lists_equal_brute_force_cooccurrence(recs, built):
    history, meta = built
    want = _brute_force(history)
    for sku, partners in want.items():
        body = recs.get("/recs", params={"sku": sku, "limit": 50}).json()
        assert [(it["sku"], it["count"]) for it in body["items"]] == partners, sku
        assert body["freshness"]["batch"] == meta["batch"] and body["freshness"]["age_s"] >= 0


def test_recent_clicks_move_items_up(recs, built, unique):
    history, _ = built
    sku, partners = next(iter(_brute_force(history).items()))
    target = partners[-1][0]                      # the weakest co-purchase
    user = unique("u")
    assert recs.post("/clicks", json={"user_id": user, "sku": target}).status_code == 201
    plain = [it["sku"] for it in recs.get("/recs", params={"sku": sku, "limit": 50}).json()["items"]]
    blended = recs.get("/recs", params={"sku": sku, "user_id": user, "limit": 50}).json()
    order = [it["sku"] for it in blended["items"]]
    assert blended["recent_clicks"] == [target]
    assert order.index(target) < plain.index(target)


def test_no_batch_or_unknown_sku_is_empty_not_an_error(recs, unique):
    body = recs.get("/recs", params={"sku": unique("never")}).json()
    assert body["items"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 51}, {"sku": "a b"}, {"user_id": "x" * 200}])
def test_malformed_recs_queries_are_422(recs, params):
    r = recs.get("/recs", params=params)
    assert r.status_code == 422 and r.json()["detail"]


def test_malformed_clicks_are_422(recs):
    for body in ({}, {"user_id": "u"}, {"user_id": "u", "sku": "a b"}, {"user_id": "u", "sku": "s", "x": 1}):
        assert recs.post("/clicks", json=body).status_code == 422
