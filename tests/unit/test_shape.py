"""Stage tables and their tick(), without Locust: the pool follows the rate up, never down, then ends."""

from __future__ import annotations

import pytest

from loadtests.shape import (
    DRAIN_S,
    GROW_AHEAD_S,
    RACE_MAX_S,
    StageTable,
    Step,
    hold,
    lead_s,
    open_pool,
    stages_for,
)

PRIME = [(0, 10), (15, 10), (16, 400), (20, 400), (30, 80), (50, 10), (60, 10)]


def test_tick_walks_the_table_and_ends_with_none():
    table = StageTable([Step(5, 2, 10), Step(10, 8, 4)])
    assert table.tick(0) == (2, 10)
    assert table.tick(4.999) == (2, 10)
    assert table.tick(5) == (8, 4)
    assert table.tick(10) is None


def test_steps_out_of_order_are_refused():
    with pytest.raises(ValueError):
        StageTable([Step(5, 1, 1), Step(2, 1, 1)])
    with pytest.raises(ValueError):
        StageTable([])


def test_open_pool_grows_before_the_spike_and_never_shrinks():
    lead = 2.0
    table = open_pool(PRIME, 60, users=100, spawn_rate=100, lead=lead)
    users = [table.tick(t)[0] for t in range(0, int(table.end_s))]
    assert users == sorted(users), "the pool never shrinks: a stopped user may hold a checkout"
    assert table.tick(0)[0] == 3                             # baseline: 10/400 of the pool, rounded up
    ramp = 15                                                # the deal drop starts rising at 15 s
    assert table.tick(lead + ramp - GROW_AHEAD_S)[0] == 100  # the whole pool, ahead of the rise
    assert table.tick(lead + ramp - GROW_AHEAD_S - 0.01)[0] == 3
    assert table.tick(lead + 60 + DRAIN_S - 0.01) is not None
    assert table.tick(lead + 60 + DRAIN_S) is None


def test_open_pool_stops_at_the_duration_even_if_the_shape_goes_on():
    table = open_pool(PRIME, 10, users=50, spawn_rate=50, lead=1.0)
    assert table.tick(5)[0] == 50                            # within 10 s the baseline is the peak
    assert table.end_s == pytest.approx(1.0 + 10 + DRAIN_S)


def test_flat_and_zero_shapes_still_have_one_user():
    assert open_pool([(0, 0)], 5, users=10, spawn_rate=10, lead=1).tick(0) == (1, 10)
    assert open_pool([(0, 20)], 5, users=10, spawn_rate=10, lead=1).tick(0) == (10, 10)


def test_race_and_closed_hold_every_user():
    table, lead = stages_for("race", [], 10, 500, 250)
    assert lead == pytest.approx(lead_s(500, 250)) and lead > 2
    assert table.tick(0) == (500, 250) and table.end_s == pytest.approx(lead + RACE_MAX_S)
    table, lead = stages_for("closed", [], 7, 4, 4)
    assert table.tick(lead + 6.9) == (4, 4) and table.tick(lead + 7) is None
    assert hold(3, 1, 2).tick(2) is None
