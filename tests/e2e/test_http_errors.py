"""Bad input gets a 4xx with a message, never a 500 or a traceback, and changes nothing."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from reference_impl.services import SERVICES
from scenarios.policy import MAX_BODY_BYTES
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
    assert api.post("/admin/sweep", json={"as_of": 0}).status_code == 422       # once read as 1970


def test_sweep_as_of_must_be_text_with_a_zone(api):
    for bad in (0, 1.5, True, "2030-01-01T00:00:00"):
        r = api.post("/admin/sweep", json={"as_of": bad})
        assert r.status_code == 422 and r.json()["detail"], bad


def _declared_only(url: str, path: str, declared: int) -> tuple[int, dict, bytes]:
    """Send headers declaring a body of `declared` bytes, and none of it: the answer must not wait for it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {declared}\r\n\r\n".encode())
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_body_over_the_cap_is_refused_413_json_at_every_service(lab, service):
    path = "/webhooks/psp" if service == "payment" else "/anything"
    status, headers, body = _declared_only(lab[service]["url"], path, 100 * 2**20)
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "payload_too_large"


def test_a_streamed_webhook_body_is_cut_at_the_cap(lab):
    def chunks():                          # no Content-Length: the service counts what arrives
        left = MAX_BODY_BYTES + 1
        while left:
            n = min(65536, left)
            left -= n
            yield b" " * n
    r = httpx.post(f"{lab['payment']['url']}/webhooks/psp", content=chunks(), timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_405_lists_what_the_resource_takes(lab):
    r = httpx.request("OPTIONS", f"{lab['payment']['url']}/payments/authorize", timeout=30)
    assert r.status_code == 405 and r.headers["allow"] == "POST" and r.json()["error"] == "method_not_allowed"
    r = httpx.request("TRACE", f"{lab['catalog']['url']}/products/SKU-1", timeout=30)
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE"}
