"""inventory.before_commit in the model, as reference_impl/inventory/app.py's `settle_answer` does it: what each
action leaves sold, what the orders handler hears, and that the saga still ends clean."""

from __future__ import annotations

import pytest

from lastunit.usecases import combined_audit
from scenarios.loader import load
from scenarios.policy import CALL_TIMEOUT_S as DEFAULT_TIMEOUT_S
from sim.calibration import DEFAULT
from sim.saga import Model
from sim.saga.orders import Order
from sim.saga_run import simulate_saga


def _fault(action: str, probability: float = 1.0, delay_ms: float = 300) -> str:
    return (f'faults=[{{point="inventory.before_commit", action="{action}", probability={probability}, '
            f'delay_ms={delay_ms}}}]')


def _commit_once(action: str, delay_ms: float = 300):
    """One held reservation, one commit call with the fault certain: (answer, reservation state, model)."""
    m = Model(load("payment_crash", [_fault(action, 1.0, delay_ms)]), DEFAULT)
    o = Order("order-x", 0, 0, 100, status="paid")
    o.row, o.res_state = m.shop.stock.of(0)[0], "held"
    o.row.reserved += 1
    o.row.held += 1
    answer = []

    def call():
        answer.append((yield from m.inventory.commit(o)))
        answer.append(m.env.now)

    m.env.process(call())
    m.env.run()
    return answer[0], answer[1], o.res_state, m


def test_crash_sells_nothing_and_takes_inventory_down():
    status, at, state, m = _commit_once("crash")
    assert status is None and state == "held"
    assert m.inventory.down_until > at            # restarting: the next calls are refused


def test_error_answers_nothing_usable_and_sells_nothing():
    status, _, state, m = _commit_once("error")
    assert status is None and state == "held" and m.inventory.up()


def test_drop_reply_sells_then_leaves_the_caller_to_its_timeout():
    status, at, state, _ = _commit_once("drop_reply")
    assert status is None and state == "committed"
    assert at >= DEFAULT_TIMEOUT_S


def test_short_delay_sells_and_answers():
    status, at, state, _ = _commit_once("delay", 300)
    assert status == 200 and state == "committed" and at >= 0.3


def test_delay_past_the_callers_timeout_still_sells_later():
    status, at, state, _ = _commit_once("delay", 1000 * DEFAULT_TIMEOUT_S + 500)
    assert status is None and state == "committed"   # the server went on after the caller gave up


@pytest.mark.parametrize("action", ["crash", "error", "drop_reply", "delay"])
def test_saga_ends_clean_with_commit_faults(action):
    r = simulate_saga(load("payment_crash", [_fault(action, 0.6, 2500)]), "t", DEFAULT)
    audit = combined_audit(r.saga, r.inventory, r.faults_fired)
    assert r.faults_fired[f"inventory.before_commit:{action}"] > 0
    assert f"inventory.before_commit:{action}" in r.stats["faults_modelled"]
    assert audit["ok"] and audit["stranded"] == 0 and audit["oversold_units"] == 0 and audit["money_conserved"]
    assert audit["by_status"]["shipped"] > 0


def test_reservation_while_inventory_restarts_is_pending_then_recovered():
    m = Model(load("payment_crash", []), DEFAULT)
    m.inventory.down_until = 5.0                   # as after a crash: every reserve try is refused
    m.live = 1
    m.env.process(m.checkout(0, 1, 0.0))
    m.env.run()
    (record,) = m.records
    (order,) = m.orders
    assert order.drives >= 2                       # the client saw 202s; recovery drove it again
    assert (record[5], record[8]) == ("won", True)  # and the client's status page saw it confirmed
    assert order.status == "shipped" and order.res_state == "committed"
