"""The psp's webhooks at a real receiver: signed, in order, retried until acked, and the knobs that delay,
drop, duplicate and reorder them observably do so."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from reference_impl import stack
from reference_impl.infra.procs import wait_for
from reference_impl.psp.signing import ForgedSignature, verify
from tests.conftest import STACK

pytestmark = STACK
CARD = "4242424242424242"
#: Generous: the worker ticks every 0.1 s; this only bounds a hung test, it is not a timing assertion.
WAIT_S = 60


class Receiver:
    """A webhook endpoint on a free port that records what arrives and answers the scripted statuses."""

    def __init__(self):
        self.got: list[dict] = []
        self.fail_first = 0
        self.arrived = threading.Condition()          # notified on every request: tests wait on it
        lock, outer = self.arrived, self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    seen = len(outer.got)
                    outer.got.append({"raw": raw, "sig": self.headers.get("Psp-Signature"),
                                      "event": json.loads(raw), "path": self.path})
                    lock.notify_all()
                self.send_response(500 if seen < outer.fail_first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self, charge_id) -> list[tuple[str, str]]:
        return [(g["event"]["type"], g["event"]["id"]) for g in self.got if g["event"]["data"]["id"] == charge_id]


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def psp(lab):
    with httpx.Client(base_url=lab["psp"]["url"], timeout=30) as c:
        yield c


@pytest.fixture
def knobs(psp):
    """Knobs are process-wide: start from a drained outbox, put the knobs back and drain again after."""
    psp.post("/admin/flush_webhooks", json={"all": True}).raise_for_status()
    before = psp.get("/admin/config").json()
    yield lambda **kw: psp.post("/admin/config", json=kw).raise_for_status().json()
    psp.post("/admin/config", json=before).raise_for_status()
    psp.post("/admin/flush_webhooks", json={"all": True})


def _charge(psp, receiver, unique, amount=1000):
    body = {"amount": amount, "currency": "usd", "card": CARD, "reference": unique("order"),
            "webhook_url": receiver.url}
    r = psp.post("/v1/charges", json=body, headers={"Idempotency-Key": unique("key")})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _move(psp, charge_id, action, unique):
    r = psp.post(f"/v1/charges/{charge_id}/{action}", headers={"Idempotency-Key": unique("k")})
    assert r.status_code == 200, r.text


def _wait(receiver, what, cond):
    """Block until the receiver's requests satisfy `cond` (woken by each arrival, not by a clock)."""
    with receiver.arrived:
        assert receiver.arrived.wait_for(cond, WAIT_S), f"gave up waiting for {what}"


def _recorded(psp, charge_id, expected: list[tuple[str, str]]) -> None:
    """The psp writes its delivery log just after the receiver answered: another process, no signal."""
    wait_for(lambda: _attempts(psp, charge_id) == expected, WAIT_S, f"the psp to record {expected}")


def _attempts(psp, charge_id) -> list[tuple[str, str]]:
    rows = psp.get("/admin/webhooks", params={"charge_id": charge_id}).json()["data"]
    return [(r["type"], r["outcome"]) for r in rows]


def _secret() -> str | None:
    """The secret `lastunit up` gave the services (kept in its state), else this process's environment."""
    return stack.load_state().get("secrets", {}).get("psp_webhook") or os.environ.get("LAB_PSP_WEBHOOK_SECRET")


def test_events_arrive_signed_and_in_order(psp, receiver, knobs, unique):
    ch = _charge(psp, receiver, unique)
    _move(psp, ch, "capture", unique)
    _move(psp, ch, "refund", unique)
    _wait(receiver, "3 events", lambda: len(receiver.events(ch)) == 3)
    assert [t for t, _ in receiver.events(ch)] == ["payment.authorized", "payment.captured", "payment.refunded"]
    assert [g["event"]["data"]["status"] for g in receiver.got] == ["authorized", "captured", "refunded"]
    assert len({i for _, i in receiver.events(ch)}) == 3 and all(i.startswith("evt_") for _, i in
                                                                 receiver.events(ch))
    for g in receiver.got:
        assert g["sig"].startswith("t=") and ",v1=" in g["sig"]
        with pytest.raises(ForgedSignature):
            verify("not-the-secret", g["sig"], g["raw"])
        verify(_secret(), g["sig"], g["raw"])


def test_a_failing_receiver_gets_retries_until_it_acks(psp, receiver, knobs, unique):
    receiver.fail_first = 3
    ch = _charge(psp, receiver, unique)
    _wait(receiver, "the fourth try", lambda: len(receiver.got) == 4)
    _recorded(psp, ch, [("payment.authorized", "failed")] * 3 + [("payment.authorized", "delivered")])
    assert len({i for _, i in receiver.events(ch)}) == 1
    psp.post("/admin/flush_webhooks", json={"all": True}).raise_for_status()   # anything still due goes now
    assert len(receiver.got) == 4                                              # acked: nothing more is sent


def test_the_delay_knob_holds_events_until_due(psp, receiver, knobs, unique):
    knobs(webhook_delay_ms=600_000)
    ch = _charge(psp, receiver, unique)
    psp.post("/admin/flush_webhooks").raise_for_status()          # due now: nothing is
    assert receiver.got == [] and _attempts(psp, ch) == []
    psp.post("/admin/flush_webhooks", json={"all": True}).raise_for_status()
    assert [t for t, _ in receiver.events(ch)] == ["payment.authorized"]


def test_the_drop_knob_loses_the_first_attempt_and_the_retry_arrives(psp, receiver, knobs, unique):
    knobs(webhook_drop=1.0)
    ch = _charge(psp, receiver, unique)
    _wait(receiver, "the retry", lambda: len(receiver.got) == 1)
    _recorded(psp, ch, [("payment.authorized", "dropped"), ("payment.authorized", "delivered")])
    assert len(receiver.got) == 1


def test_the_duplicate_knob_delivers_each_event_twice(psp, receiver, knobs, unique):
    knobs(webhook_duplicate=1.0)
    ch = _charge(psp, receiver, unique)
    _move(psp, ch, "capture", unique)
    _wait(receiver, "4 deliveries", lambda: len(receiver.got) == 4)
    types = [t for t, _ in receiver.events(ch)]
    assert types == ["payment.authorized"] * 2 + ["payment.captured"] * 2
    ids = [i for _, i in receiver.events(ch)]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    _recorded(psp, ch, [("payment.authorized", "delivered"), ("payment.authorized", "duplicate"),
                        ("payment.captured", "delivered"), ("payment.captured", "duplicate")])


def test_the_reorder_knob_delivers_an_event_after_a_later_one(psp, receiver, knobs, unique):
    knobs(webhook_reorder=1.0)
    ch = _charge(psp, receiver, unique)
    wait_for(lambda: psp.post("/admin/flush_webhooks").json()["pending"] >= 1, WAIT_S,
             "the authorization to be held")
    _move(psp, ch, "capture", unique)
    _wait(receiver, "2 events", lambda: len(receiver.got) == 2)
    assert [t for t, _ in receiver.events(ch)] == ["payment.captured", "payment.authorized"]
    wait_for(lambda: [o for _, o in _attempts(psp, ch)] == ["delivered", "delivered"], WAIT_S, "both recorded")


def test_events_without_a_url_go_to_the_default_or_wait(psp, knobs, unique):
    """No webhook_url: LAB_PSP_WEBHOOK_URL (the payment service, when the stack has one), else they wait."""
    body = {"amount": 10, "currency": "usd", "card": CARD, "reference": unique("order")}
    ch = psp.post("/v1/charges", json=body, headers={"Idempotency-Key": unique("k")}).json()["id"]
    psp.post("/admin/flush_webhooks", json={"all": True}).raise_for_status()
    rows = psp.get("/admin/webhooks", params={"charge_id": ch}).json()["data"]
    payment = stack.load_state().get("services", {}).get("urls", {}).get("payment")
    if payment is None:
        assert rows == []
    else:
        assert rows and {r["url"] for r in rows} == {payment + "/webhooks/psp"}
