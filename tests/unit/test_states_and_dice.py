"""The shared vocabulary as data: the schemas' CHECK lists spell the same states, and the fault dice roll
one way for the real services and the model."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from scenarios.faults import FaultAction, FaultPoint, decide
from scenarios.spec import Fault
from scenarios.states import FINAL, ORDER_MOVES, RECOVERY_MOVES, OrderStatus, RecoveryPoint, can_move, sources


def _check_list(package: str, column: str) -> set[str]:
    schema = (resources.files(package) / "schema.sql").read_text()
    m = re.search(column + r"\s+IN\s*\(([^)]*)\)", schema)
    assert m, f"no CHECK ({column} IN ...) in {package}/schema.sql"
    return set(re.findall(r"'([a-z_]+)'", m.group(1)))


def test_the_schemas_check_the_states_the_machines_name():
    assert _check_list("reference_impl.orders", r"CHECK \(status") == {s.value for s in OrderStatus}
    assert _check_list("reference_impl.payment", r"CHECK \(recovery_point") == {p.value for p in RecoveryPoint}


def test_order_moves_only_forward_and_final_states_are_final():
    assert sources(OrderStatus.CANCELLED) == ["pending", "confirmed", "paid"]     # never un-sell a shipment
    assert sources(OrderStatus.SHIPPED) == ["paid"]
    assert all(not ORDER_MOVES[s] for s in FINAL) and not RECOVERY_MOVES[RecoveryPoint.FINISHED]
    assert can_move("pending", "confirmed") and not can_move("shipped", "cancelled")


def _f(point, action, p=1.0, ms=0.0):
    return Fault(point, action, p, ms)


def test_dice_delays_add_up_and_the_first_ending_action_wins():
    P, A = FaultPoint.PAYMENT_BEFORE_REPLY, FaultAction
    faults = [_f(P, A.DELAY, ms=100), _f(FaultPoint.PSP_WEBHOOK, A.CRASH), _f(P, A.DELAY, ms=50),
              _f(P, A.DROP_REPLY), _f(P, A.CRASH)]
    d = decide(faults, P, lambda: 0.0)
    assert d.delay_s == pytest.approx(0.15) and d.action is A.DROP_REPLY
    assert d.fired == ["payment.before_reply:delay", "payment.before_reply:delay", "payment.before_reply:drop_reply"]


def test_dice_that_miss_fire_nothing():
    P = FaultPoint.ORDERS_AFTER_RESERVE
    d = decide([_f(P, FaultAction.CRASH, p=0.3)], P, lambda: 0.3)      # a draw at the probability misses
    assert d.action is None and d.fired == [] and d.delay_s == 0
