"""The sold-out short-circuit, specified: once a SKU is known sold out the crowd is answered from memory;
units coming back (release, expiry, restock) reopen it within the bound; a retried winner still gets its
reservation. The liveness check finds the control (`stale`, a memory that never hears units return)."""

from __future__ import annotations

import time

import httpx
import pytest

from reference_impl.audit.inventory import audit_inventory, audit_liveness
from reference_impl.infra.procs import wait_for
from scenarios.liveness import Refusal
from scenarios.policy import SOLD_OUT_STALENESS_S
from scenarios.strategies import Strategy, safe
from tests.conftest import STACK

pytestmark = STACK
#: How long a reopened SKU may take to sell again in these tests: the bound, plus a busy machine's slack.
REOPEN_TIMEOUT_S = 10 * SOLD_OUT_STALENESS_S



class Buyers:
    """Asks for one unit of `sku` with one strategy and sold-out mode; keeps every refusal for the check."""

    def __init__(self, api, sku: str, strategy: str, mode: str):
        self.api, self.sku, self.strategy, self.mode = api, sku, strategy, mode
        self.refusals: list[Refusal] = []
        self.n = 0

    def buy(self, attempt_id: str | None = None) -> httpx.Response:
        self.n += 1
        aid = attempt_id or f"{self.sku}-{self.n}"
        t0 = time.time()
        r = self.api.post("/reservations", json={"sku": self.sku, "qty": 1, "strategy": self.strategy,
                                                  "sold_out": self.mode, "attempt_id": aid})
        if r.status_code == 409:
            self.refusals.append(Refusal(aid, self.sku, None, 1, t0, time.time()))
        return r


def _seed(api, sku, qty, wh="wh-1"):
    assert api.post("/stock/receipts", json={"sku": sku, "warehouse": wh, "qty": qty}).status_code == 201


@pytest.mark.parametrize("strategy", [s.value for s in safe()], ids=str)
def test_sold_out_is_answered_from_memory_and_a_retried_winner_still_gets_its_unit(api, pg_url, unique, strategy):
    sku = unique("so")
    _seed(api, sku, 1)
    b = Buyers(api, sku, strategy, "on")
    won = b.buy(f"{sku}-winner")
    assert won.status_code == 201
    first = b.buy()
    assert first.status_code == 409
    again = b.buy()
    assert again.status_code == 409 and again.json()["from_memory"] is True
    replay = b.buy(f"{sku}-winner")
    assert replay.status_code == 200 and replay.json()["id"] == won.json()["id"]
    assert audit_inventory(pg_url, [sku])["ok"]


@pytest.mark.parametrize("how", ["release", "expiry", "restock"])
def test_units_coming_back_reopen_the_sku(api, pg_url, unique, how):
    sku = unique(f"re-{how}")
    _seed(api, sku, 1)
    b = Buyers(api, sku, "batched", "on")
    held = b.buy().json()
    assert b.buy().status_code == 409 and b.buy().json()["from_memory"] is True
    if how == "release":
        assert api.post(f"/reservations/{held['id']}/release").status_code == 200
    elif how == "expiry":
        assert api.post("/admin/sweep", json={"as_of": "2999-01-01T00:00:00Z"}).json()["expired"] >= 1
    else:
        _seed(api, sku, 1)
    won = wait_for(lambda: b.buy().status_code == 201, REOPEN_TIMEOUT_S, f"{sku} selling again after {how}")
    assert won
    audit = audit_liveness(pg_url, b.refusals)
    assert audit["liveness_ok"], audit["liveness_breaches"]     # reopened within the bound


@pytest.mark.parametrize("mode, breaks", [("on", False), ("stale", True)])
def test_liveness_check_catches_a_short_circuit_that_never_reopens(api, pg_url, unique, mode, breaks):
    """The control: `stale` remembers "sold out" forever. After a release, buyers keep arriving until one
    wins or one is refused past the bound; the check must name that refusal, and must pass for `on`."""
    sku = unique(f"lv-{mode}")
    _seed(api, sku, 1)
    b = Buyers(api, sku, "batched", mode)
    held = b.buy().json()
    assert b.buy().status_code == 409
    assert api.post(f"/reservations/{held['id']}/release").status_code == 200
    released = time.time()

    def settled() -> bool:
        return b.buy().status_code == 201 or (b.refusals and b.refusals[-1].t_start - released > SOLD_OUT_STALENESS_S)

    wait_for(settled, REOPEN_TIMEOUT_S, f"{sku}: a win or a refusal past the bound")
    audit = audit_liveness(pg_url, b.refusals)
    assert audit["liveness_ok"] is not breaks
    if breaks:
        (breach,) = audit["liveness_breaches"]
        assert breach["invariant"] == "refused_while_available" and breach["witnesses"]
        assert set(breach["witnesses"]) <= {r.attempt_id for r in b.refusals}
    assert audit_inventory(pg_url, [sku])["ok"]   # safe either way: the control breaks liveness only


def test_short_circuit_off_asks_the_database_every_time(api, unique):
    sku = unique("off")
    _seed(api, sku, 1)
    b = Buyers(api, sku, Strategy.BATCHED.value, "off")
    assert b.buy().status_code == 201
    assert all(b.buy().json()["from_memory"] is False for _ in range(3))
