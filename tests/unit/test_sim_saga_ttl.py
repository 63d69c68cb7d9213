"""Reservation TTL in the model, the real rule: the sweeper expires a held reservation once its TTL ran out
(units back to stock); a payment captured after that is refunded (`reservation_expired`), a sale attempted
after that is refused (409) and cancels (`stock_lost`); never a unit sold twice."""

from __future__ import annotations

import pytest

from lastunit.usecases import combined_audit
from scenarios.loader import load
from sim.calibration import DEFAULT
from sim.saga import Model
from sim.saga.fulfilment import sell_stock
from sim.saga.orders import Order
from sim.saga.reservations import next_sweep
from sim.saga_run import simulate_saga


@pytest.mark.parametrize(("due", "last", "at"), [(5.0, 0.0, 5.0), (5.0, 4.5, 5.5), (0.2, 0.0, 1.0)])
def test_the_sweeper_runs_at_the_earliest_expiry_but_a_floor_after_its_last_round(due, last, at):
    assert next_sweep(due, last, 1.0) == at


def run(*overrides: str):
    r = simulate_saga(load("payment_crash", ["faults=[]", *overrides]), "test-ttl", DEFAULT)
    return r, combined_audit(r.saga, r.inventory, r.faults_fired)


def test_ttl_shorter_than_the_webhook_refunds_every_order_and_oversells_nothing():
    r, audit = run("inventory.reservation_ttl_s=1", "webhooks.delay_ms=3000")
    hot_stock = load("payment_crash", []).catalog.hot_stock
    assert r.stats["reservations_expired"] > 0
    assert r.stats["cancel_reasons"]["reservation_expired"] == r.stats["reservations_expired"]
    assert audit["by_status"]["shipped"] == 0 and audit["provider_net_cents"] == 0
    assert audit["money_conserved"] and audit["double_charges"] == 0 and audit["stranded"] == 0
    assert audit["oversold_units"] == 0 and audit["stock_conserved"] and audit["ok"]
    # the units came back: more buyers of the hot SKU got one than it has in stock, none of them sold twice
    hot_won = sum(row["outcome"] == "won" and row["sku"].startswith("hot") for row in r.rows)
    assert hot_won > hot_stock


def test_the_scenarios_own_long_ttl_expires_nothing():
    r, audit = run()
    assert r.stats["reservations_expired"] == 0 and "reservation_expired" not in r.stats["cancel_reasons"]
    assert audit["ok"]


def test_expired_before_the_sale_is_refused_and_cancelled_not_sold():
    m = Model(load("payment_crash", ["faults=[]", "inventory.reservation_ttl_s=0.5"]), DEFAULT)
    o = Order("order-x", 0, 0, 100, status="paid")
    m.orders.append(o)
    row = m.shop.stock.of(0)[0]
    row.reserved += 1
    m.shop.stock.promise(row, 1, "guarded")
    m.sweeper.hold(o, row)

    def late_shipment():
        yield m.env.timeout(2.0)
        yield from sell_stock(m, o)

    m.env.process(late_shipment())
    m.env.run()
    assert (o.status, o.reason, o.res_state) == ("cancelled", "stock_lost", "expired")
    assert row.reserved == 0 and row.sold == 0 and m.sweeper.expired == 1
