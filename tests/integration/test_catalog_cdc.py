"""No update is lost when the change relay dies mid-stream, and replays are harmless.

Two deaths: a deliberate crash at the worst moment (the index batch committed, the slot not yet advanced,
so the restarted relay must replay it), and a SIGKILL at whatever moment a stream of writes is in. The
supervisor restarts the relay each time; the index must end equal to the source, version for version.
"""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest

from tests.conftest import STACK
from tests.integration.catalog_helpers import indexed, make_products, require_cdc, wait_until

pytestmark = [*STACK, pytest.mark.slow]
N = 40
ROUNDS = 5


@pytest.fixture
def api(lab):
    require_cdc(lab)
    with httpx.Client(base_url=lab["catalog"]["url"], timeout=30) as c:
        yield c


@pytest.fixture
def relay(lab):
    with httpx.Client(base_url=lab["catalog_relay"]["url"], timeout=30) as c:
        yield c


def _relay_pid(relay) -> int | None:
    try:
        return relay.get("/status").json()["pid"]
    except httpx.HTTPError:
        return None     # between death and restart


def _write_stream(api, skus, rounds) -> dict[str, int]:
    """Price updates, round after round over every SKU; returns the last version written per SKU."""
    last = {}
    for r in range(rounds):
        for i, sku in enumerate(skus):
            resp = api.put(f"/products/{sku}/price", json={"price": f"{100 + r * 10 + i % 7}.00"})
            assert resp.status_code == 200, resp.text
            last[sku] = resp.json()["version"]
    return last


def _assert_index_equals_source(api, tag, last_versions):
    def caught_up():
        idx = indexed(api, tag)
        return all(sku in idx and idx[sku]["source_version"] == v for sku, v in last_versions.items())

    wait_until(caught_up, timeout=90, what="the index to catch up after the relay restarted")
    idx = indexed(api, tag)
    for sku in last_versions:
        assert idx[sku]["price"] == api.get(f"/products/{sku}").json()["price"], sku


def _seed(api, unique):
    tag = unique("zq").replace("-", "")
    docs = make_products(tag, N, seed=7)
    for sku, doc in docs.items():
        assert api.put(f"/products/{sku}", json=doc).status_code == 200
    return tag, sorted(docs)


def test_crash_after_apply_before_ack_replays_and_loses_nothing(api, relay, unique):
    tag, skus = _seed(api, unique)
    wait_until(lambda: _relay_pid(relay), what="the relay")
    before = _relay_pid(relay)
    assert relay.post("/admin/crash", json={"point": "after_apply"}).status_code == 200
    last = _write_stream(api, skus, ROUNDS)
    wait_until(lambda: _relay_pid(relay) not in (None, before), timeout=60, what="the relay to restart")
    _assert_index_equals_source(api, tag, last)
    status = relay.get("/status").json()
    assert status["last_error"] is None and status["lag_bytes"] is not None


def test_sigkill_mid_stream_loses_nothing(api, relay, unique):
    tag, skus = _seed(api, unique)
    pid = wait_until(lambda: _relay_pid(relay), what="the relay")
    result = {}
    writer = threading.Thread(target=lambda: result.update(_write_stream(api, skus, ROUNDS)))
    writer.start()
    wait_until(lambda: indexed(api, tag), what="the stream to start reaching the index")
    os.kill(pid, signal.SIGKILL)
    writer.join()
    wait_until(lambda: _relay_pid(relay) not in (None, pid), timeout=60, what="the relay to restart")
    _assert_index_equals_source(api, tag, result)
    lag = api.get("/cdc/lag").json()
    assert lag["lag_bytes"] >= 0 and lag["apply_delay_ms"] is not None


def test_arming_an_unknown_crash_point_is_422(relay):
    r = relay.post("/admin/crash", json={"point": "somewhere"})
    assert r.status_code == 422 and "point" in r.json()["detail"]
