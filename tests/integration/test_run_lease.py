"""Faults die with their run (issue 12, item 1): a scenario in Redis that no live run owns (written before
leases, restored by a restarted Redis after its time, or left by a driver that died) fires nothing, and
`lastunit up` clears whatever is there. Before the fix, a Redis that came back from its files kept
injecting a dead run's faults into plain checkouts."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis

from reference_impl import stack
from reference_impl.infra.run_config import FIRED_KEY, RUN_CHANNEL, RUN_KEY, announce, fired, set_run
from tests.conftest import STACK

pytestmark = STACK
#: Every checkout would fail at payment if this fired.
FAULT = {"point": "payment.before_provider_call", "action": "error", "probability": 1.0}


@pytest.fixture
def r(lab):
    client = redis.from_url(lab["redis"]["url"])
    yield client
    set_run(client, None)
    client.close()


def _checkout(lab, unique) -> httpx.Response:
    sku = unique("lease")
    assert httpx.post(f"{lab['inventory']['url']}/stock/receipts",
                      json={"sku": sku, "warehouse": "wh-1", "qty": 1}).status_code == 201
    return httpx.post(f"{lab['orders']['url']}/checkouts", json={"sku": sku, "qty": 1},
                      headers={"Idempotency-Key": unique("key"), "X-User-Id": "u-lease"}, timeout=30)


def _write_raw(r, value: dict) -> None:
    """As a Redis restored from its files would hold it: no TTL, whatever the value says."""
    r.delete(FIRED_KEY)
    r.set(RUN_KEY, json.dumps(value))
    announce(r)                                   # every service drops its copy, as after a restart


@pytest.mark.parametrize("value", [
    {"faults": [FAULT]},                                                          # no run names it
    {"faults": [FAULT], "run_id": "run-dead", "expires_at": time.time() - 60},   # its lease ran out
], ids=["unowned", "expired"])
def test_faults_no_run_owns_fire_nothing(lab, r, unique, value):
    _write_raw(r, value)
    answer = _checkout(lab, unique)
    assert answer.status_code == 201, answer.text
    assert fired(r) == {}


def test_faults_a_live_run_owns_fire(lab, r, unique):
    """The control: the same fault, owned, does fire (so the tests above can fail)."""
    set_run(r, {"faults": [FAULT]}, run_id="run-live", lease_s=60)
    answer = _checkout(lab, unique)
    assert answer.status_code != 201 and fired(r).get("payment.before_provider_call:error", 0) >= 1


def test_up_clears_a_scenario_left_behind(lab, r, unique):
    set_run(r, {"faults": [FAULT]}, run_id="run-that-died", lease_s=300)
    stack.up()
    assert r.get(RUN_KEY) is None                 # and `up` told every service so
    assert _checkout(lab, unique).status_code == 201 and fired(r) == {}


def test_a_change_returns_once_every_service_has_dropped_its_copy(lab, r):
    """Each service that reads the scenario (inventory, orders, payment, shipping: one process each here)
    watches the channel; `set_run` waits for every one's answer instead of sleeping out a cache."""
    watchers = dict(r.pubsub_numsub(RUN_CHANNEL))[RUN_CHANNEL.encode()]
    assert watchers >= 4
    assert announce(r) == watchers
