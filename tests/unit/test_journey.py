"""The shopping journey's contract (scenarios/journey.py, the `[journey]` table), the model running its
carts, and the latency table a journey swarm prints."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lastunit.journey_report import LATENCY_COLUMNS, latency_by_kind
from lastunit.usecases import combined_audit
from loadtests.plan import MAX_SWARM_ACCOUNTS, make_plan
from scenarios.journey import KINDS, bundle, checkouts, line_crowd, sessions
from scenarios.loader import load
from scenarios.results import Outcome
from scenarios.spec import ScenarioError
from sim.calibration import DEFAULT
from sim.saga_run import JOURNEY_NOT_MODELLED, simulate_saga
from sim.stock import sku_name

SHORT = "load.duration_s=20"


def test_the_old_scenarios_load_without_a_journey():
    for name in ("last_unit_race", "prime_day_burst", "payment_crash", "shipping_failure"):
        assert load(name).journey is None


def test_carts_start_with_the_sessions_pick_and_hold_each_sku_once():
    sc = load("prime_day_shop", [SHORT])
    people, carts = sessions(sc)
    assert len(carts) == len(people) > 0
    for pick, cart in zip(people.sku.tolist(), carts, strict=True):
        assert cart[0] == pick and len(set(cart)) == len(cart) <= sc.journey.lines
        assert all(0 <= s < sc.catalog.skus for s in cart)


def test_the_bundle_is_bought_together_in_about_its_share_of_carts():
    sc = load("prime_day_shop", ["load.duration_s=600"])
    _, carts = sessions(sc)
    a, b = bundle(sc.journey, sc.catalog.hot_skus)
    together = sum(1 for c in carts if a in c and b in c)
    assert together / len(carts) == pytest.approx(sc.journey.bundle_share, abs=0.05)
    _, plain = sessions(load("prime_day_shop", ["load.duration_s=600", "journey.bundle_share=0"]))
    assert sum(1 for c in plain if a in c and b in c) / len(plain) < 0.01    # by chance alone: rarely


def test_carts_mix_hot_last_unit_skus_with_popular_ones():
    sc = load("prime_day_shop", ["load.duration_s=600"])
    lines = Counter(s for c in sessions(sc)[1] for s in c)
    hot = sum(n for s, n in lines.items() if s < sc.catalog.hot_skus)
    assert 0 < hot < sum(lines.values())
    top, hundredth = sc.catalog.hot_skus, sc.catalog.hot_skus + 99
    assert lines[top] > 10 * max(lines[hundredth], 1)          # Zipf: the best seller far ahead


def test_carts_are_the_same_for_a_seed_and_differ_for_another():
    a, b = (sessions(load("prime_day_shop", [SHORT, f"seed={s}"]))[1] for s in (7, 7))
    assert a == b
    assert sessions(load("prime_day_shop", [SHORT, "seed=8"]))[1] != a


def test_an_engine_that_does_not_browse_replays_every_cart_line_at_its_sessions_start():
    sc = load("prime_day_shop", [SHORT])
    people, carts = sessions(sc)
    lines = line_crowd(sc)
    assert len(lines) == sum(map(len, carts)) and len(checkouts(sc)) == len(lines)
    assert np.array_equal(np.unique(lines.t), np.unique(people.t))


@pytest.mark.parametrize("override, key", [
    ("load.model=race", "journey"),
    ("journey.lines=2", "journey.lines"),
    ("journey.bundle_rank=395", "journey.bundle_rank"),
    ("journey.bundle_share=1.5", "journey.bundle_share"),
    ("journey.searches=-1", "journey.searches"),
    ("journey.colour=1", "journey.colour"),
])
def test_a_bad_journey_is_refused_by_name(override, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        load("prime_day_shop", [override])


def test_a_journey_plan_goes_through_the_gateway_with_an_account_per_user():
    sc = load("prime_day_shop")
    plan = make_plan(sc, "r", via="gateway")
    assert plan.journey["lines"] == sc.journey.lines and 1 <= plan.users <= MAX_SWARM_ACCOUNTS
    assert len(plan.accounts) == plan.users
    with pytest.raises(ValueError, match="gateway"):
        make_plan(sc, "r", via="http")
    with pytest.raises(ValueError, match="at most"):
        make_plan(sc, "r", users=MAX_SWARM_ACCOUNTS + 1, via="gateway")


def test_the_model_runs_the_journeys_carts_and_says_what_it_leaves_out():
    sc = load("prime_day_shop")
    r = simulate_saga(sc, "test-journey", DEFAULT)
    audit = combined_audit(r.saga, r.inventory, r.faults_fired)
    assert len(r.rows) == len(line_crowd(sc)) and audit["ok"] and audit["oversold_units"] == 0
    hot = {sku_name(i, sc.catalog.hot_skus) for i in range(sc.catalog.hot_skus)}
    tried = Counter(row["sku"] for row in r.rows if row["sku"] in hot)
    won = Counter(row["sku"] for row in r.rows if row["sku"] in hot and row["outcome"] == "won")
    assert max(tried.values()) > 1 and max(won.values()) == 1     # fought over, and each last unit sold once
    assert r.stats["journey_not_modelled"] == list(JOURNEY_NOT_MODELLED)


def test_the_latency_table_has_every_kind_in_a_sessions_order():
    df = pd.DataFrame({"kind": ["search", "search", "checkout", "cart"], "latency_ms": [10.0, 30.0, 200.0, 5.0],
                       "ok": [True, True, False, True]})
    table = latency_by_kind(df)
    assert tuple(table.columns) == LATENCY_COLUMNS and tuple(table["kind"]) == KINDS
    rows = table.set_index("kind")
    assert rows.loc["search", "requests"] == 2 and rows.loc["search", "p50_ms"] == 20.0
    assert rows.loc["checkout", "errors"] == 1 and rows.loc["product", "requests"] == 0


class _Resp:
    def __init__(self, status: int, body: dict | None = None):
        self.status_code, self.text, self.headers = status, json.dumps(body or {}), {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def success(self):
        pass

    def failure(self, _why):
        pass


class _Gateway:
    """The gateway's answers as a script: each (method, path) takes its next answer; what was asked is kept."""

    def __init__(self, script: dict):
        self.script, self.asked = {k: list(v) for k, v in script.items()}, []

    def request(self, method, path, json=None, headers=None, name=None, catch_response=False):  # noqa: A002
        self.asked.append((method, path, (headers or {}).get("Idempotency-Key")))
        answers = self.script.get((method, path)) or [(404, {"error": "unknown"})]
        return _Resp(*(answers.pop(0) if len(answers) > 1 else answers[0]))

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def get(self, path, params=None, **kw):
        return self.request("GET", path, **kw)


def _session(script: dict):
    from loadtests.journey import Session

    plan = SimpleNamespace(qty=1, journey={"think_ms": 0}, account=lambda k: ("shopper", "pw"))
    gw = _Gateway({("POST", "/auth/token"): [(200, {"token": "t"})]} | script)
    rec = SimpleNamespace(rows=[], request=lambda *row: rec.rows.append(row))
    return Session(gw, plan, 0, rec), gw, rec


def test_a_lost_cart_answer_is_resolved_by_the_status_page_and_the_cart_sent_again_with_its_key(monkeypatch):
    """The first answer is lost and the order is still pending on its status page, so the cart goes again
    with the same key; its answer is the one order of both lines: both won."""
    import loadtests.journey as journey

    monkeypatch.setattr(journey, "STATUS_POLL_S", 0.0)
    order = {"id": "o-1", "status": "confirmed", "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}]}
    session, gw, rec = _session({
        ("POST", "/checkout/cart"): [(502, {}), (200, {"order": order, "lines": [
            {"sku": "A", "qty": 1, "status": 200, "ordered": True},
            {"sku": "B", "qty": 1, "status": 200, "ordered": True}]})],
        ("GET", "/checkout/k"): [(200, {**order, "status": "pending"})],
    })
    seen, retries = session.checkout("k", ["A", "B"])
    assert seen["A"] == seen["B"] == (Outcome.WON, order) and retries == 1
    posts = [a for a in gw.asked if a[:2] == ("POST", "/checkout/cart")]
    assert posts == [("POST", "/checkout/cart", "k")] * 2            # the same key both times
    assert all(path != "/checkout" for _, path, _ in gw.asked)      # never a single checkout at another price
    assert {row[1] for row in rec.rows} == {"login", "checkout", "checkout_status"}


def test_a_short_line_cancels_the_whole_cart_and_a_refused_line_has_its_own_outcome(monkeypatch):
    """One order of the priced lines: B short cancels it, so A is out of stock too (nothing held, nothing
    charged); C left the catalog and was never part of it."""
    gone = {"id": "o-2", "status": "cancelled", "cancel_reason": "out_of_stock"}
    session, _, _ = _session({("POST", "/checkout/cart"): [(409, {
        "order": gone, "error": "out_of_stock", "lines": [
            {"sku": "A", "qty": 1, "catalog_price": 100, "status": 409, "ordered": False},
            {"sku": "B", "qty": 1, "catalog_price": 100, "status": 409, "ordered": False},
            {"sku": "C", "qty": 1, "status": 404, "ordered": False, "error": "unknown_sku"}]})]})
    seen, retries = session.checkout("k", ["A", "B", "C"])
    assert seen["A"][0] == seen["B"][0] == Outcome.OUT_OF_STOCK and seen["C"][0] == Outcome.FAILED
    assert retries == 0


def test_a_line_never_resolved_stays_unknown_after_the_patience(monkeypatch):
    import loadtests.journey as journey

    monkeypatch.setattr(journey, "STATUS_POLL_S", 0.0)
    monkeypatch.setattr(journey, "PENDING_PATIENCE_S", 0.0)
    session, _, _ = _session({("POST", "/checkout/cart"): [(503, {})]})
    seen, _ = session.checkout("k", ["A"])
    assert seen.get("A", (Outcome.UNKNOWN,))[0] == Outcome.UNKNOWN
