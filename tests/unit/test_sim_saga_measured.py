"""The saga's step times fitted from a run's saga log (sim/saga/measured.py): which orders count, how the
medians map onto the model's steps, and that a calibration file carries them into the model."""

from __future__ import annotations

import json

import pytest

from scenarios.loader import load
from sim.calibration import DEFAULT, Calibration
from sim.saga import Model
from sim.saga.delays import SagaTimes
from sim.saga.measured import STRAIGHT, client_edges, entry, fit, fit_run, straight_orders, with_saga_times
from sim.saga_run import simulate_saga


def _log(oid: str, gaps_ms: list[float], status: str = "shipped", steps=STRAIGHT) -> list[dict]:
    t, rows = 1000.0, []
    for step, gap in zip(steps, gaps_ms, strict=True):
        t += gap / 1000
        rows.append({"order_id": oid, "order_status": status, "step": step, "status": "done", "at": str(t)})
    return rows


#: reserve, authorize (+30 ms), confirm (+2), paid (+100), sell_stock (+80), ship (+1)
GAPS = [10, 30, 2, 100, 80, 1]


def test_only_orders_that_went_straight_through_count():
    retried = _log("b", [10, 30, 2, 100, 80, 1, 5], steps=(*STRAIGHT, "ship"))
    cancelled = _log("c", GAPS, status="cancelled")
    failed = _log("d", GAPS)
    failed[3]["status"] = "failed"
    assert set(straight_orders(_log("a", GAPS) + retried + cancelled + failed)) == {"a"}


def test_medians_map_onto_hops_bus_legs_and_the_label():
    rows = _log("a", [10, 30, 2, 100, 180, 1]) + _log("b", [10, 60, 2, 140, 190, 1]) + _log("c", [10, 45, 2, 120, 185, 1])
    f = fit(rows, webhook_delay_s=0.02, source="run-x")
    assert f["orders"] == 3 and f["source"] == "run-x"
    assert f["hop_s"] == pytest.approx(0.045 / 3)                 # an authorize is three hops
    assert f["bus_s"] == pytest.approx((0.120 - 0.02) / 2)        # two bus legs around the webhook delay
    assert f["carrier_s"] == pytest.approx(0.185 - 2 * 0.05 - 2 * 0.015, abs=1e-6)


def test_label_never_negative_and_no_straight_order_is_an_error():
    assert fit(_log("a", [10, 30, 2, 100, 20, 1]))["carrier_s"] == 0.0
    with pytest.raises(ValueError, match="no order went straight"):
        fit(_log("a", GAPS, status="cancelled"))


def test_fitted_times_reach_the_model_through_the_calibration_file(tmp_path):
    fitted = fit(_log("a", GAPS), source="run-y")
    path = with_saga_times(DEFAULT, fitted).save(tmp_path / "calibration.json")
    cal = Calibration.load(path)                                  # the loader takes the file as it is
    assert cal.http_ms == DEFAULT.http_ms
    times = Model(load("payment_crash", []), cal).times
    assert times == SagaTimes(hop_s=fitted["hop_s"], bus_s=fitted["bus_s"], carrier_s=fitted["carrier_s"],
                              source="run-y")
    assert Model(load("payment_crash", []), DEFAULT).times == SagaTimes()


def test_fit_run_reads_the_run_directory(tmp_path):
    import csv

    with (tmp_path / "saga_log.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, ["order_id", "order_status", "step", "status", "at"])
        w.writeheader()
        w.writerows(_log("a", GAPS))
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": "run-z",
                                                       "scenario_spec": {"webhooks": {"delay_ms": 40}}}))
    f = fit_run(tmp_path)
    assert f["source"] == "run-z" and f["bus_s"] == pytest.approx((0.100 - 0.04) / 2)


def test_the_clients_edges_come_from_the_attempts_joined_to_the_log():
    rows = _log("a", GAPS) + _log("b", [10, 30, 2, 100, 80, 1]) + _log("z", GAPS, status="cancelled")
    t0 = 1000.0                                   # _log starts its clock here; reserve is logged at +10 ms
    attempts = {"order_id": ["a", "b", "z"], "t_start": [t0 + 0.004, t0 + 0.002, t0],
                "t_end": [t0 + 0.042 + 0.003, t0 + 0.042 + 0.005, t0 + 1]}   # confirm is logged at +42 ms
    edges = client_edges(rows, attempts)
    assert edges["to_reserve_s"] == pytest.approx(0.007)   # median of 6 and 8 ms; the cancelled order is out
    assert edges["reply_s"] == pytest.approx(0.004)
    assert entry(edges, 0.002) == {"entry_s": pytest.approx(0.005)}
    assert entry(edges, 1.0) == {"entry_s": 0.0} and entry({}, 0.002) == {}


def test_entry_and_reply_times_lengthen_the_modelled_checkout():
    def p50(times: dict) -> float:
        cal = with_saga_times(DEFAULT, {"hop_s": 0.002, "bus_s": 0.05, "carrier_s": 0.01, **times})
        run = simulate_saga(load("shipping_failure", ["faults=[]"]), "t", cal)
        won = sorted(r["t_end"] - r["t_intended"] for r in run.rows if r["outcome"] == "won")
        return won[len(won) // 2]

    assert p50({"entry_s": 0.03, "reply_s": 0.02}) - p50({}) == pytest.approx(0.05, abs=0.005)
