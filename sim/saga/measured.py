"""The saga model's step times measured from a real run: the run's saga log (written beside its attempts as
`saga_log.csv`) gives, per order that went straight through, when each step was done; the medians of the
gaps between steps set `SagaTimes`. Kept in the calibration file, as `Calibration.saga`.

Why the saga log and not the attempts: an attempt ends when the client hears `confirmed`; the paid, label
and sale steps happen after, on the bus, and only the log has their times.

`lastunit calibrate` runs a short fault-free saga to fit them, or reads a run you name (`--saga-run DIR`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
from pathlib import Path

from scenarios.results import SAGA_LOG_FILE as LOG_FILE
from sim.calibration import Calibration

#: The steps an order that went straight through logs once each, all `done`, in this order.
STRAIGHT = ("reserve", "authorize", "confirm", "paid", "sell_stock", "ship")


def straight_orders(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per shipped order whose log is exactly STRAIGHT (no retry, failure or compensation): step -> time."""
    logs: dict[str, list[dict]] = {}
    for r in rows:
        logs.setdefault(r["order_id"], []).append(r)
    out = {}
    for oid, log in logs.items():
        if (log[0]["order_status"] == "shipped" and tuple(r["step"] for r in log) == STRAIGHT
                and all(r["status"] == "done" for r in log)):
            out[oid] = {r["step"]: float(r["at"]) for r in log}
    return out


def fit(rows: list[dict], webhook_delay_s: float = 0.0, source: str = "a real run") -> dict:
    """SagaTimes fields from the log's medians, mapped onto the model's steps: an authorize is three hops
    (orders -> payment -> provider, the reply); confirm -> paid is two bus legs (OrderConfirmed, then
    PaymentCaptured) around the scenario's webhook delay; paid -> sale is two bus legs (OrderPaid,
    ShipmentCreated), the label, and the commit's two hops. Raises ValueError with no straight order."""
    orders = straight_orders(rows)
    if not orders:
        raise ValueError("no order went straight through (shipped, each step once): nothing to measure")
    med = {name: statistics.median(o[b] - o[a] for o in orders.values())
           for name, (a, b) in {"authorize": ("reserve", "authorize"), "confirm_to_paid": ("confirm", "paid"),
                                "paid_to_sale": ("paid", "sell_stock")}.items()}
    hop = med["authorize"] / 3
    bus = max(0.0, med["confirm_to_paid"] - webhook_delay_s) / 2
    carrier = max(0.0, med["paid_to_sale"] - 2 * bus - 2 * hop)
    return {"hop_s": round(hop, 6), "bus_s": round(bus, 6), "carrier_s": round(carrier, 6), "source": source,
            "orders": len(orders), "median_ms": {k: round(v * 1000, 2) for k, v in med.items()}}


def client_edges(rows: list[dict], attempts) -> dict:
    """Median seconds from the client's request to the reservation's log entry (`to_reserve_s`) and from the
    confirm's entry to the client's answer (`reply_s`), over the orders that went straight through.

    `attempts`: the run's attempts frame (order_id, t_start, t_end). The first edge still holds the
    inventory's reservation, which the model times itself: `entry_s` is what is left once calibrate takes
    out the model's own single-client reservation (`entry`)."""
    orders = straight_orders(rows)
    ends = {oid: (ts, te) for oid, ts, te in zip(attempts["order_id"], attempts["t_start"], attempts["t_end"],
                                                strict=True) if oid in orders}
    if not ends:
        return {}
    return {"to_reserve_s": round(statistics.median(orders[o]["reserve"] - ts for o, (ts, _) in ends.items()), 6),
            "reply_s": round(max(0.0, statistics.median(te - orders[o]["confirm"] for o, (_, te) in ends.items())), 6)}


def entry(edges: dict, reservation_s: float) -> dict:
    """`entry_s`: the client's edge before the reservation, less the model's own reservation time."""
    if "to_reserve_s" not in edges:
        return {}
    return {"entry_s": round(max(0.0, edges["to_reserve_s"] - reservation_s), 6)}


def with_saga_times(cal: Calibration, fitted: dict) -> Calibration:
    """The calibration with the saga's fitted times added (every other number unchanged)."""
    return dataclasses.replace(cal, saga=fitted)


def fit_run(run_dir: str | Path) -> dict:
    """Fit from a run directory: its saga_log.csv, and the webhook delay its scenario asked for."""
    d = Path(run_dir)
    with (d / LOG_FILE).open(newline="") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((d / "summary.json").read_text())
    delay_s = summary.get("scenario_spec", {}).get("webhooks", {}).get("delay_ms", 0.0) / 1000
    fitted = fit(rows, delay_s, summary.get("run_id", d.name))
    if (d / "attempts.parquet").exists() or (d / "attempts.csv").exists():
        from scenarios.results import read_run  # noqa: PLC0415 - pandas, only when a run is read

        fitted |= client_edges(rows, read_run(d)[0])
    return fitted
