"""Scenario files and overrides: what a user can type, and the one-line errors for what they cannot."""

from __future__ import annotations

import pytest

from scenarios.faults import FaultAction, FaultPoint
from scenarios.loader import load, parse_override
from scenarios.spec import ScenarioError
from scenarios.strategies import Strategy


def test_bundled_race_loads_with_overrides():
    sc = load("last_unit_race", ["inventory.strategy=naive", "load.buyers=3", "catalog.warehouses=2"])
    assert sc.inventory.strategy is Strategy.NAIVE and sc.load.buyers == 3 and sc.catalog.warehouses == 2


@pytest.mark.parametrize(("text", "expect"), [("a.b=3", (["a", "b"], 3)), ("x=true", (["x"], True)),
                                             ("s=naive", (["s"], "naive")), ('s="q"', (["s"], "q")),
                                             ("f=0.5", (["f"], 0.5))])
def test_override_values_are_toml(text, expect):
    assert parse_override(text) == expect


@pytest.mark.parametrize(("override", "message"), [
    ("inventory.strategy=yolo", "unknown Strategy 'yolo'"),
    ("load.buyers=abc", "expected a number"),
    ("load.buyers=0", "load.buyers"),
    ("load.buyerz=1", "load.buyerz: unknown key"),
    ("catalog.hot_skus=5", "catalog.hot_skus"),
    ("payment.idempotency=maybe", "expected true or false"),
    ("load.model=sometimes", "load.model"),
    ("inventory.naive_window_ms=1.5", "whole number"),
])
def test_bad_values_fail_with_the_key_named(override, message):
    with pytest.raises(ScenarioError) as err:
        load("last_unit_race", [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_faults_are_validated_against_the_shared_names(tmp_path):
    good = tmp_path / "f.toml"
    good.write_text('name = "f"\n[[faults]]\npoint = "payment.before_reply"\naction = "drop_reply"\n'
                    'probability = 0.5\n')
    sc = load(str(good))
    assert sc.faults[0].point is FaultPoint.PAYMENT_BEFORE_REPLY
    assert sc.faults[0].action is FaultAction.DROP_REPLY
    bad = tmp_path / "b.toml"
    bad.write_text('name = "b"\n[[faults]]\npoint = "payment.before_reply"\naction = "duplicate"\n')
    with pytest.raises(ScenarioError, match="does not apply"):
        load(str(bad))
    worse = tmp_path / "w.toml"
    worse.write_text('name = "w"\n[[faults]]\npoint = "payment.nowhere"\naction = "crash"\n')
    with pytest.raises(ScenarioError, match="unknown FaultPoint"):
        load(str(worse))


def test_broken_toml_and_missing_files(tmp_path):
    broken = tmp_path / "x.toml"
    broken.write_text("name = \n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load(str(broken))
    with pytest.raises(ScenarioError, match="no scenario"):
        load("nope_nothing_here")
    nameless = tmp_path / "n.toml"
    nameless.write_text("seed = 1\n")
    with pytest.raises(ScenarioError, match="missing"):
        load(str(nameless))


@pytest.mark.parametrize(("override", "message"), [
    ("load.shape=[{at_s=0,rate=1e9}]", "load.shape[0].rate: 1000000000.0 is out of bounds (between 0 and 100,000)"),
    ("seed=-1", "seed: -1 is out of bounds"),
    ("settle_s=-5", "settle_s: -5.0 is out of bounds"),
    ("load.shape=[{at_s=0,rate=nan}]", "load.shape[0].rate: expected a finite number"),
    ("load.duration_s=inf", "load.duration_s: expected a finite number"),
    ("catalog.hot_stock=1e12", "catalog.hot_stock"),
    ("faults=[{point='payment.before_reply', action='delay', delay_ms=1e9}]", "faults[0].delay_ms"),
])
def test_numbers_past_their_named_bounds_are_refused_by_key(override, message):
    with pytest.raises(ScenarioError) as err:
        load("payment_crash", [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_run_too_big_to_draw_is_refused_before_drawing():
    with pytest.raises(ScenarioError, match="MAX_ARRIVALS"):
        load("payment_crash", ["load.shape=[{at_s=0,rate=100000}]", "load.duration_s=3600"])


def test_every_numeric_field_has_a_named_bound():
    import dataclasses
    import typing

    from scenarios import spec

    for cls in (spec.Scenario, spec.Catalog, spec.Stage, spec.Load, spec.Inventory, spec.Payment,
                spec.Webhooks, spec.Fault):
        for f in dataclasses.fields(cls):
            if typing.get_type_hints(cls)[f.name] in (int, float):
                assert f"{cls.__name__}.{f.name}" in spec.BOUNDS, f"{cls.__name__}.{f.name} has no bound"


def test_expected_arrivals_integrates_the_shape():
    from scenarios.loader import expected_arrivals
    from scenarios.spec import Stage

    assert expected_arrivals([Stage(0, 10), Stage(10, 10)], 10) == pytest.approx(100)
    assert expected_arrivals([Stage(0, 0), Stage(10, 100)], 10) == pytest.approx(500)
    assert expected_arrivals([Stage(5, 10)], 20) == pytest.approx(200)      # flat before and after
    assert expected_arrivals([], 20) == 0
