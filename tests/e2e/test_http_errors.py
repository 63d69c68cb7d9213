"""Bad input gets a 4xx with a message, never a 500 or a traceback, and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import STACK

pytestmark = STACK

BAD_RESERVATIONS = [
    ("qty zero", {"sku": "x", "qty": 0}, 422),
    ("qty negative", {"sku": "x", "qty": -3}, 422),
    ("qty absurd", {"sku": "x", "qty": 10**9}, 422),
    ("qty not a number", {"sku": "x", "qty": "many"}, 422),
    ("no sku", {"qty": 1}, 422),
    ("sku empty", {"sku": "", "qty": 1}, 422),
    ("sku with spaces", {"sku": "a b; drop table", "qty": 1}, 422),
    ("unknown field", {"sku": "x", "qty": 1, "price": 0}, 422),
    ("unknown strategy", {"sku": "x", "qty": 1, "strategy": "yolo"}, 422),
    ("ttl negative", {"sku": "x", "qty": 1, "ttl_s": -1}, 422),
    ("a list", [1, 2], 422),
]


@pytest.fixture
def api(inventory_url):
    with httpx.Client(base_url=inventory_url, timeout=30) as c:
        yield c


@pytest.mark.parametrize(("why", "body", "status"), BAD_RESERVATIONS, ids=[b[0] for b in BAD_RESERVATIONS])
def test_bad_reservation_bodies(api, why, body, status):
    r = api.post("/reservations", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] and r.json()["detail"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"null", b"\xff\xfe"])
def test_malformed_json(api, raw):
    r = api.post("/reservations", content=raw, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500 and "detail" in r.json()


def test_unknown_sku_and_warehouse_are_404(api, unique):
    sku = unique("known")
    api.post("/stock/receipts", json={"sku": sku, "warehouse": "wh-1", "qty": 1})
    assert api.post("/reservations", json={"sku": unique("nope"), "qty": 1}).json()["error"] == "unknown_sku"
    r = api.post("/reservations", json={"sku": sku, "qty": 1, "warehouse": unique("wh")})
    assert (r.status_code, r.json()["error"]) == (404, "unknown_warehouse")
    assert api.get(f"/stock/{sku}").json()["warehouses"][0]["reserved"] == 0


@pytest.mark.parametrize("path", ["/reservations/not-a-uuid/commit", "/reservations/123/release",
                                  "/reservations/zzz"])
def test_bad_reservation_ids(api, path):
    r = api.post(path) if path.endswith(("commit", "release")) else api.get(path)
    assert r.status_code == 400 and "UUID" in r.json()["detail"]


def test_unknown_reservation_is_404(api):
    assert api.post("/reservations/00000000-0000-0000-0000-000000000000/commit").status_code == 404


def test_bad_receipts(api):
    assert api.post("/stock/receipts", json={"sku": "x", "warehouse": "w", "qty": 0}).status_code == 422
    assert api.post("/admin/sweep", json={"as_of": "yesterday"}).status_code == 422
    assert api.post("/admin/sweep", json={"as_of": "2030-01-01T00:00:00"}).status_code == 422
