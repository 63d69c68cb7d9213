"""What becomes of each arrival, without Locust: answers to outcomes, late and dropped starts, the CSV."""

from __future__ import annotations

import csv

from loadtests.plan import make_plan
from loadtests.protocol import Answer, InventoryCheckout, commit_outcome
from loadtests.records import DROP_AFTER_S, LATE_MS, Recorder
from scenarios.loader import load
from scenarios.results import ATTEMPT_COLUMNS, Outcome


class FakeResponse:
    def __init__(self, status, text):
        self.status_code, self.text, self.verdict = status, text, None

    def success(self):
        self.verdict = "success"

    def failure(self, why):
        self.verdict = f"failure: {why}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeClient:
    """Locust's session, as far as the protocol client uses it."""

    def __init__(self, answers):
        self.answers, self.sent = list(answers), []

    def post(self, path, json=None, name=None, catch_response=False):
        assert catch_response
        self.sent.append((path, json))
        resp = FakeResponse(*self.answers.pop(0))
        self.last = resp
        return resp


PLAN = make_plan(load("last_unit_race"), "swarm-t", users=2)


def test_won_reservation_then_commit_is_won():
    client = FakeClient([(201, '{"id": "r1", "warehouse": "wh-1", "retries": 2}'), (200, "{}")])
    ans = InventoryCheckout(client, PLAN).checkout("s", "a1")
    assert (ans.outcome, ans.retries, ans.warehouse) == (Outcome.WON, 2, "wh-1")
    assert client.sent[1][0] == "/reservations/r1/commit"
    assert client.sent[0][1]["strategy"] == "guarded" and client.sent[0][1]["attempt_id"] == "a1"


def test_sold_out_is_a_locust_success():
    client = FakeClient([(409, '{"error": "out_of_stock"}')])
    ans = InventoryCheckout(client, PLAN).checkout("s", "a1")
    assert ans.outcome == Outcome.OUT_OF_STOCK and client.last.verdict == "success"
    assert len(client.sent) == 1


def test_starvation_no_answer_and_refused_commit():
    starved = FakeClient([(503, '{"error": "retries_exhausted", "retries": 64}')])
    assert InventoryCheckout(starved, PLAN).checkout("s", "a").outcome == Outcome.FAILED
    assert starved.last.verdict.startswith("failure")
    cut = FakeClient([(0, None)])
    assert InventoryCheckout(cut, PLAN).checkout("s", "a").outcome == Outcome.UNKNOWN
    refused = FakeClient([(201, '{"id": "r"}'), (409, '{"error": "stock_inconsistent"}')])
    assert InventoryCheckout(refused, PLAN).checkout("s", "a").outcome == Outcome.FAILED
    assert commit_outcome(502, {}) == Outcome.UNKNOWN and commit_outcome(200, {}) == Outcome.WON


def test_late_and_dropped_starts_are_counted(tmp_path):
    rec = Recorder(PLAN, tag="t")
    assert rec.lag(100.0, 100.0 + LATE_MS / 2000) == "ok"
    assert rec.lag(100.0, 100.0 + LATE_MS / 500) == "late"
    assert rec.lag(100.0, 100.0 + DROP_AFTER_S + 1) == "drop"
    rec.add("a1", "u1", "s", 1.0, 1.5, 2.0, Answer(Outcome.WON, 1, "wh-1"))
    rec.write(tmp_path, never_started=4)
    assert rec.stats["started"] == 2 and rec.stats["late"] == 1 and rec.stats["dropped"] == 5
    with (tmp_path / "attempts-t.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == ATTEMPT_COLUMNS and rows[0]["engine"] == "swarm" and rows[0]["outcome"] == "won"
