"""The payment provider fake over HTTP, checked against its own ledger in SQL: one charge per key, stored
results replayed, transitions that move money exactly once, and a ledger the auditor's queries can read."""

from __future__ import annotations

import os
import threading

import httpx
import psycopg
import pytest

from reference_impl.infra.procs import wait_for
from reference_impl.infra.settings import database_url
from reference_impl.psp import ledger_sql
from tests.conftest import STACK

pytestmark = STACK
CARD = "4242424242424242"


@pytest.fixture
def psp_url(lab) -> str:
    return lab["psp"]["url"]


@pytest.fixture
def psp(psp_url):
    with httpx.Client(base_url=psp_url, timeout=30) as c:
        yield c


@pytest.fixture
def psp_db(pg_url):
    with psycopg.connect(database_url(pg_url, "psp"), autocommit=True) as conn:
        yield conn


@pytest.fixture
def knobs(psp):
    """Set knobs for one test; the ones found are put back after it (the knobs are process-wide)."""
    before = psp.get("/admin/config").json()
    yield lambda **kw: psp.post("/admin/config", json=kw).raise_for_status().json()
    psp.post("/admin/config", json=before).raise_for_status()


def _charge(psp, key, ref, amount=1000, card=CARD, **extra):
    body = {"amount": amount, "currency": "usd", "card": card, "reference": ref} | extra
    return psp.post("/v1/charges", json=body, headers={"Idempotency-Key": key})


def _move(psp, charge_id, action, key):
    return psp.post(f"/v1/charges/{charge_id}/{action}", headers={"Idempotency-Key": key})


def _count(db, sql, *args) -> int:
    return db.execute(sql, args).fetchone()[0]


def test_a_replay_returns_the_stored_result_and_makes_no_second_charge(psp, psp_db, unique):
    key, ref = unique("key"), unique("order")
    first = _charge(psp, key, ref)
    assert first.status_code == 200, first.text
    again = _charge(psp, key, ref)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["idempotent_replay"] is False and again.json()["idempotent_replay"] is True
    assert {**first.json(), "idempotent_replay": True} == again.json()
    assert first.json()["status"] == "authorized" and first.json()["id"].startswith("ch_")
    assert _count(psp_db, "SELECT count(*) FROM charges WHERE idempotency_key = %s", key) == 1
    assert _count(psp_db, "SELECT count(*) FROM events WHERE charge_id = %s", first.json()["id"]) == 1


def test_a_decline_is_stored_and_replayed_too(psp, psp_db, unique):
    key, ref = unique("key"), unique("order")
    first = _charge(psp, key, ref, card="4000000000000002").json()
    assert (first["status"], first["decline_code"]) == ("declined", "card_declined")
    again = _charge(psp, key, ref, card="4000000000000002").json()
    assert again["id"] == first["id"] and again["idempotent_replay"] is True
    assert _count(psp_db, "SELECT count(*) FROM charges WHERE idempotency_key = %s", key) == 1
    assert _count(psp_db, "SELECT count(*) FROM events WHERE charge_id = %s AND type = 'payment.failed'",
                  first["id"]) == 1


@pytest.mark.parametrize("change", [{"amount": 1001}, {"reference": "other"}, {"card": "5555555555554444"},
                                    {"webhook_url": "http://127.0.0.1:9/x"}])
def test_the_same_key_with_other_parameters_is_a_409(psp, psp_db, unique, change):
    key, ref = unique("key"), unique("order")
    assert _charge(psp, key, ref).status_code == 200
    r = _charge(psp, key, ref, **({"amount": 1000} | change))
    assert r.status_code == 409 and r.json()["error"] == "idempotency_key_reused"
    assert _count(psp_db, "SELECT count(*) FROM charges WHERE idempotency_key = %s", key) == 1


def test_a_key_is_not_reusable_on_another_endpoint(psp, unique):
    key = unique("key")
    ch = _charge(psp, key, unique("order")).json()
    r = _move(psp, ch["id"], "capture", key)
    assert r.status_code == 409 and r.json()["error"] == "idempotency_key_reused"
    assert psp.get(f"/v1/charges/{ch['id']}").json()["status"] == "authorized"


@pytest.mark.parametrize("headers, error", [({}, "idempotency_key_required"),
                                            ({"Idempotency-Key": "k" * 201}, "invalid_idempotency_key")])
def test_a_missing_or_oversized_key_is_refused(psp, headers, error):
    body = {"amount": 1, "currency": "usd", "card": CARD, "reference": "o"}
    r = psp.post("/v1/charges", json=body, headers=headers)
    assert r.status_code == 400 and r.json()["error"] == error


@pytest.mark.parametrize("body", [
    {"amount": 0}, {"amount": -5}, {"amount": 10**9 + 1}, {"amount": "100"}, {"amount": 1.5},
    {"currency": "eur"}, {"card": ""}, {"reference": ""}, {"webhook_url": "ftp://x"}, {"extra": 1},
])
def test_bad_input_is_a_4xx_never_a_500(psp, unique, body):
    full = {"amount": 100, "currency": "usd", "card": CARD, "reference": "o"} | body
    r = psp.post("/v1/charges", json=full, headers={"Idempotency-Key": unique("key")})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_concurrent_requests_with_one_key_make_exactly_one_charge(psp_url, psp_db, unique):
    key, ref, n = unique("key"), unique("order"), 8
    barrier, results = threading.Barrier(n), [None] * n
    body = {"amount": 700, "currency": "usd", "card": CARD, "reference": ref}

    def client(i):
        with httpx.Client(base_url=psp_url, timeout=30) as c:
            barrier.wait()
            results[i] = c.post("/v1/charges", json=body, headers={"Idempotency-Key": key})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r.json() for r in results if r.status_code == 200]
    busy = [r.json()["error"] for r in results if r.status_code == 409]
    assert len(ok) + len(busy) == n and set(busy) <= {"idempotency_key_in_use"}
    assert sum(not b["idempotent_replay"] for b in ok) == 1
    assert len({b["id"] for b in ok}) == 1
    assert _count(psp_db, "SELECT count(*) FROM charges WHERE idempotency_key = %s", key) == 1


def test_capture_and_refund_move_money_once_each(psp, psp_db, unique):
    ref = unique("order")
    ch = _charge(psp, unique("key"), ref, amount=2500).json()
    cap_key = unique("cap")
    assert _move(psp, ch["id"], "capture", cap_key).json()["status"] == "captured"
    again = _move(psp, ch["id"], "capture", cap_key)                 # replay
    assert again.json()["idempotent_replay"] is True
    fresh = _move(psp, ch["id"], "capture", unique("cap"))           # new key: harmless
    assert fresh.status_code == 200 and fresh.json()["status"] == "captured"
    entries = psp_db.execute("SELECT kind, amount FROM ledger_entries WHERE charge_id = %s ORDER BY id",
                             (ch["id"],)).fetchall()
    assert entries == [("capture", 2500)]
    void = _move(psp, ch["id"], "void", unique("void"))
    assert void.status_code == 409 and void.json()["error"] == "invalid_transition"
    assert _move(psp, ch["id"], "refund", unique("ref")).json()["status"] == "refunded"
    assert _move(psp, ch["id"], "refund", unique("ref")).status_code == 200
    entries = psp_db.execute("SELECT kind, amount FROM ledger_entries WHERE charge_id = %s ORDER BY id",
                             (ch["id"],)).fetchall()
    assert entries == [("capture", 2500), ("refund", -2500)]
    kinds = [r[0] for r in psp_db.execute("SELECT type FROM events WHERE charge_id = %s ORDER BY seq",
                                          (ch["id"],))]
    assert kinds == ["payment.authorized", "payment.captured", "payment.refunded"]
    assert psp.get(f"/v1/charges/{ch['id']}").json()["status"] == "refunded"


def test_void_and_the_transitions_it_forbids(psp, psp_db, unique):
    ch = _charge(psp, unique("key"), unique("order")).json()
    assert _move(psp, ch["id"], "refund", unique("r")).json()["error"] == "invalid_transition"
    assert _move(psp, ch["id"], "void", unique("v")).json()["status"] == "voided"
    assert _move(psp, ch["id"], "void", unique("v")).json()["status"] == "voided"
    r = _move(psp, ch["id"], "capture", unique("c"))
    assert r.status_code == 409 and r.json()["charge_status"] == "voided"
    declined = _charge(psp, unique("key"), unique("order"), card="4000000000000002").json()
    assert _move(psp, declined["id"], "capture", unique("c")).status_code == 409
    assert _count(psp_db, "SELECT count(*) FROM ledger_entries WHERE charge_id IN (%s, %s)",
                  ch["id"], declined["id"]) == 0


def test_an_error_is_stored_under_its_key_too(psp, unique):
    key = unique("k")
    assert _move(psp, "ch_missing", "capture", key).status_code == 404
    again = _move(psp, "ch_missing", "capture", key)
    assert again.status_code == 404 and again.json() == {
        "error": "unknown_charge", "detail": "no charge 'ch_missing'", "idempotent_replay": True}
    assert psp.get("/v1/charges/ch_missing").status_code == 404


def test_racing_capture_and_void_under_different_keys_settle_once(psp, psp_url, psp_db, unique):
    ch = _charge(psp, unique("key"), unique("order"), amount=900).json()
    n = 6
    barrier, codes = threading.Barrier(n), [None] * n

    def client(i):
        with httpx.Client(base_url=psp_url, timeout=30) as c:
            barrier.wait()
            codes[i] = _move(c, ch["id"], "capture" if i % 2 else "void", unique("k")).status_code

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = psp.get(f"/v1/charges/{ch['id']}").json()["status"]
    assert final in ("captured", "voided") and sorted(set(codes)) == [200, 409]
    captures = _count(psp_db, "SELECT count(*) FROM ledger_entries WHERE charge_id = %s", ch["id"])
    assert captures == (1 if final == "captured" else 0)
    assert _count(psp_db, "SELECT count(*) FROM events WHERE charge_id = %s", ch["id"]) == 2


def test_the_decline_rate_knob_and_the_list_by_reference(psp, knobs, unique):
    ref = unique("order")
    knobs(decline_rate=1.0)
    d = _charge(psp, unique("key"), ref).json()
    knobs(decline_rate=0.0)
    a = _charge(psp, unique("key"), ref).json()
    assert (d["status"], d["decline_code"], a["status"]) == ("declined", "insufficient_funds", "authorized")
    listed = psp.get("/v1/charges", params={"reference": ref}).json()["data"]
    assert [c["id"] for c in listed] == [d["id"], a["id"]]
    assert psp.get("/v1/charges", params={"reference": unique("none")}).json() == {"data": []}
    assert psp.get("/v1/charges").status_code == 422


def test_the_auditor_queries_see_a_double_charge(psp, psp_db, unique):
    """The API cannot double-charge, so the breach is written by hand, in a transaction rolled back."""
    ref, key = unique("order"), unique("key")
    ch = _charge(psp, key, ref, amount=400).json()
    _move(psp, ch["id"], "capture", unique("c"))
    with psycopg.connect(psp_db.info.dsn, password=psp_db.info.password) as conn:   # not autocommit
        before = ledger_sql.total_captured(conn)
        assert all(r["reference"] != ref for r in ledger_sql.captures_per_reference(conn))
        conn.execute("INSERT INTO charges (id, idempotency_key, reference, amount, currency, status, card_last4)"
                     " VALUES ('ch_forged', %s, %s, 400, 'usd', 'captured', '4242')", (key, ref))
        conn.execute("INSERT INTO ledger_entries (charge_id, kind, amount) VALUES ('ch_forged', 'capture', 400)")
        assert ledger_sql.total_captured(conn) == before + 400
        doubles = {r["reference"]: r for r in ledger_sql.captures_per_reference(conn)}
        assert doubles[ref]["captures"] == 2 and doubles[ref]["charge_ids"] == [ch["id"], "ch_forged"]
        assert {r["idempotency_key"]: r["charges"] for r in ledger_sql.charges_per_key(conn)}[key] == 2
        assert ledger_sql.net_captured(conn) == before + 400 - ledger_sql.total_refunded(conn)
        conn.rollback()


def test_the_knobs_survive_a_crash_of_the_psp_process(psp, knobs):
    knobs(decline_rate=0.25, seed=4242)
    pid = psp.get("/healthz").json()["pid"]
    os.kill(pid, 9)          # a crash: the supervisor brings a new process up
    def back() -> bool:
        try:
            return psp.get("/healthz").json()["pid"] != pid
        except httpx.TransportError:
            return False

    wait_for(back, 60, "the restarted psp")
    got = psp.get("/admin/config").json()
    assert (got["decline_rate"], got["seed"]) == (0.25, 4242)
