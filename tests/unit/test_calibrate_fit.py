"""The calibration fit on synthetic measurements: made by the model from known step times, fitted back.

If the fit cannot recover step times the model itself produced, it cannot be trusted on the real stack.
No servers: `sim.fit` is pure; `lastunit calibrate` only adds the measuring.
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.strategies import Strategy
from sim.calibration import CALIBRATION_FILE, DEFAULT, Calibration, resolve
from sim.fit import DELAYS, Measurements, fit, nnls, predict

#: A stack unlike the defaults, with both shares on the fit's grid (client 0.4, driver 0.2).
TRUE = Calibration(client_ms=0.4, http_ms=0.6, driver_ms=0.12, sql_ms=0.48, commit_ms=0.48,
                   network_ms=0.03, redis_ms=0.02, cv=0.0)
RACES = [(s, 24, k) for s in ("guarded", "optimistic") for k in (1, 24)]


def synthetic(truth: Calibration, bump: dict | None = None) -> Measurements:
    single = {s.value: predict(truth, s.value, 1, 1)["p50_ms"] + (bump or {}).get(s.value, 0.0) for s in Strategy}
    races = [{"strategy": s, "buyers": b, "stock": k, **predict(truth, s, b, k)} for s, b, k in RACES]
    return Measurements(network_ms=truth.network_ms, redis_ms=truth.redis_ms, single_ms=single, races=races)


@pytest.fixture(scope="module")
def fitted():
    return fit(synthetic(TRUE), source="test")


def test_recovers_the_step_times_that_made_the_measurements(fitted):
    cal, explain = fitted
    assert (explain["client_share"], explain["driver_share"]) == (0.4, 0.2)
    for name in ("client_ms", "http_ms", "driver_ms", "sql_ms", "commit_ms"):
        assert getattr(cal, name) == pytest.approx(getattr(TRUE, name), rel=0.02, abs=1e-6), name
    assert explain["objective"] < 1e-3
    assert all(v < 0.01 for v in cal.strategy_ms.values())      # nothing left for per-strategy extras


def test_explanation_says_what_was_measured_and_fitted(fitted, tmp_path):
    cal, explain = fitted
    assert "least squares" in explain["method"] and cal.source == "test"
    assert set(explain["measured"]["single_client_p50_ms"]) == {s.value for s in Strategy}
    assert len(explain["grid"]) == 36 * len(DELAYS) and len(explain["contended_fit"]) == len(RACES)
    assert Calibration.load(cal.save(tmp_path / "c.json")) == cal   # explanation survives the file


def test_a_strategy_slower_than_its_step_counts_gets_its_own_extra():
    cal, explain = fit(synthetic(TRUE, bump={"serializable": 0.8}), shares=(0.4,))
    assert cal.strategy_ms["serializable"] == pytest.approx(0.8, rel=0.35)
    # least squares spreads part of one outlier over the shared steps: the others' extras stay well below
    assert max((v for k, v in cal.strategy_ms.items() if k != "serializable"), default=0) < 0.35
    assert explain["linear_fit"]["residual_ms"]["serializable"] > 0.5


def test_nnls_keeps_magnitudes_non_negative():
    a = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 4.0]])
    assert nnls(a, a @ np.array([0.5, 0.25])) == pytest.approx([0.5, 0.25])
    x = nnls(a, np.array([3.0, 2.0, 1.0]))          # unconstrained slope would be negative
    assert (x >= 0).all() and x[1] == 0


def test_resolve_prefers_explicit_then_env_then_results_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_CALIBRATION", raising=False)
    monkeypatch.setenv("LAB_RESULTS", str(tmp_path / "results"))
    assert resolve() == DEFAULT
    Calibration(http_ms=0.9, source="in-results").save(tmp_path / "results" / CALIBRATION_FILE)
    assert resolve().source == "in-results"
    monkeypatch.setenv("LAB_CALIBRATION", str(Calibration(source="env").save(tmp_path / "env.json")))
    assert resolve().source == "env"
    assert resolve(Calibration(source="arg").save(tmp_path / "arg.json")).source == "arg"
    with pytest.raises(ValueError, match="strategy_ms"):
        Calibration(strategy_ms={"guarded": -1})
