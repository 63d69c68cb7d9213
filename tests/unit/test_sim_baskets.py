"""The basket model (sim/basket.py): the lock order's claims, specified without servers, and a mutant that
shows the model's audit sees a half-reserved group."""

from __future__ import annotations

import pytest

from scenarios.strategies import LockOrder
from sim.basket import DEADLOCK_TIMEOUT_S, Baskets


@pytest.mark.parametrize(("buyers", "sets", "warehouses"), [(2, 1, 1), (40, 1, 1), (40, 3, 2), (41, 5, 3)])
def test_sorted_sells_exactly_the_sets_whole_and_never_deadlocks(buyers, sets, warehouses):
    run = Baskets(2, sets, buyers, LockOrder.SORTED, warehouses).run()
    assert (run.count("won"), run.count("out_of_stock"), run.deadlocks) == (sets, buyers - sets, 0)
    assert run.audit["ok"] and run.audit["oversold_units"] == 0 and run.audit["partial_groups"] == 0
    assert run.wall_s < DEADLOCK_TIMEOUT_S          # nobody ever waited long enough to look for a cycle


def test_request_order_two_buyers_deadlock_once_by_construction():
    run = Baskets(2, 1, 2, LockOrder.REQUEST).run()
    assert sorted(run.outcomes) == ["deadlock", "won"] and run.deadlocks == 1
    assert run.wall_s >= DEADLOCK_TIMEOUT_S          # the detector runs only after deadlock_timeout
    assert run.audit["ok"] and run.audit["partial_groups"] == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_request_order_crowd_deadlocks_yet_nothing_is_oversold_or_half_held(seed):
    run = Baskets(3, 1, 40, LockOrder.REQUEST, seed=seed).run()
    assert run.deadlocks >= 1 and run.count("deadlock") == run.deadlocks
    assert run.count("won") <= 1 and run.count("partial") == 0
    assert run.audit["ok"] and run.audit["oversold_units"] == 0 and run.audit["partial_groups"] == 0


def test_same_seed_same_run():
    a, b = (Baskets(2, 2, 30, LockOrder.REQUEST, 2, seed=11).run() for _ in range(2))
    assert (a.outcomes, a.deadlocks, a.wall_s) == (b.outcomes, b.deadlocks, b.wall_s)


def test_a_basket_that_keeps_what_it_got_is_caught_by_the_audit():
    """The mutant: A has 2 units, B 1; the second buyer gets A, not B, and keeps A."""
    whole = Baskets(2, [2, 1], 2, LockOrder.SORTED).run()
    assert sorted(whole.outcomes) == ["out_of_stock", "won"] and whole.audit["ok"]
    half = Baskets(2, [2, 1], 2, LockOrder.SORTED, all_or_nothing=False).run()
    assert sorted(half.outcomes) == ["partial", "won"]
    assert not half.audit["ok"] and half.audit["partial_groups"] == 1
    assert half.audit["breaches"][0]["invariant"] == "partially_reserved_groups"
