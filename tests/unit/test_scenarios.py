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
