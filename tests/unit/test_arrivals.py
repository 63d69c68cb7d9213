"""The open model's crowd, without Locust: seeded, shaped like the scenario, split exactly across workers."""

from __future__ import annotations

import numpy as np
import pytest

from loadtests.plan import make_plan, sku_name
from scenarios.arrivals import arrival_times, crowd, pick_skus, rate_at, streams
from scenarios.loader import load

SPIKE = [(0, 20), (5, 20), (6, 800), (8, 800), (9, 20), (12, 20)]


def test_rate_is_linear_between_stages_and_flat_outside():
    assert rate_at(SPIKE, [0, 5, 5.5, 7, 20]).tolist() == [20, 20, 410, 800, 20]


def test_same_seed_same_crowd_other_seed_other_crowd():
    a = crowd(SPIKE, 12, seed=3, hot=2, cold=50, hot_fraction=0.3, zipf_s=1.1)
    b = crowd(SPIKE, 12, seed=3, hot=2, cold=50, hot_fraction=0.3, zipf_s=1.1)
    c = crowd(SPIKE, 12, seed=4, hot=2, cold=50, hot_fraction=0.3, zipf_s=1.1)
    assert np.array_equal(a.t, b.t) and np.array_equal(a.sku, b.sku)
    assert len(a) != len(c) or not np.array_equal(a.t, c.t)


def test_arrival_count_follows_the_integral_of_the_rate():
    expected = 20 * 5 + (20 + 800) / 2 + 800 * 2 + (800 + 20) / 2 + 20 * 3    # 2580
    counts = [len(arrival_times(SPIKE, 12, streams(s)["arrivals"])) for s in range(20)]
    assert abs(np.mean(counts) - expected) < 3 * np.sqrt(expected / 20)


def test_the_spike_is_in_the_crowd():
    t = arrival_times(SPIKE, 12, streams(1)["arrivals"])
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 12
    baseline, spike = ((t >= 1) & (t < 4)).sum() / 3, ((t >= 6) & (t < 8)).sum() / 2
    assert spike / baseline > 20          # tens of times the rate, as the deal drop asks


def test_worker_shares_add_up_to_the_crowd():
    whole = crowd(SPIKE, 12, seed=9, hot=1, cold=10, hot_fraction=0.5, zipf_s=1.0)
    shares = [whole.share(i, 3) for i in range(3)]
    assert sum(len(s) for s in shares) == len(whole)
    merged = np.sort(np.concatenate([s.t for s in shares]))
    assert np.array_equal(merged, whole.t)
    with pytest.raises(ValueError):
        whole.share(3, 3)


def test_skus_hot_share_and_zipf_popularity():
    rng = np.random.default_rng(0)
    picks = pick_skus(50_000, hot=3, cold=100, hot_fraction=0.3, zipf_s=1.1, rng=rng)
    hot = picks < 3
    assert abs(hot.mean() - 0.3) < 0.01
    cold = np.bincount(picks[~hot] - 3, minlength=100)
    assert cold[0] > cold[1] > cold[9] > cold[99]          # rank 1 is the best seller
    assert picks.max() < 103 and picks.min() >= 0
    only_hot = pick_skus(100, hot=1, cold=0, hot_fraction=0.1, zipf_s=1.1, rng=rng)
    assert set(only_hot.tolist()) == {0}


def test_plan_from_the_bundled_prime_day_scenario():
    sc = load("prime_day_burst")
    plan = make_plan(sc, "swarm-x", base_url="http://127.0.0.1:1")
    peak = max(r for _, r in plan.shape)
    assert peak / plan.shape[0][1] >= 20 and plan.model == "open"
    assert plan.users == 100 and plan.hot_skus == 3 and plan.cold_skus == 297
    assert sku_name("p", 0, 3) == "p-hot-0" and sku_name("p", 3, 3) == "p-c1"
    assert len(set(plan.all_skus())) == sc.catalog.skus
    race = make_plan(load("last_unit_race"), "swarm-y", users=7)
    assert (race.model, race.users, race.spawn_rate) == ("race", 7, 7.0)
