"""The results schema: one row per checkout attempt, the same columns whatever engine produced them.

A run directory holds `attempts.parquet` (csv when pyarrow is missing), `summary.json`, `audit.json` and
plots, so a notebook lays sim, real and swarm runs side by side with `read_run()` and pandas.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from scenarios.paths import results_home
from scenarios.states import OrderStatus


class Outcome(StrEnum):
    WON = "won"
    OUT_OF_STOCK = "out_of_stock"
    DECLINED = "declined"
    FAILED = "failed"          # definitely not applied (refused, retries exhausted)
    UNKNOWN = "unknown"        # timed out or cut off: the auditor treats it as possibly applied


#: Why a cancelled order was cancelled -> what its buyer was told; any other reason is a plain failure.
CANCELLED_AS = {"out_of_stock": Outcome.OUT_OF_STOCK, "declined": Outcome.DECLINED}


def order_outcome(status: str | None, cancel_reason: str | None = None) -> Outcome | None:
    """What an order's state means to its buyer; None while it is pending (no verdict yet). The clients that
    poll a pending order (the run's driver, the swarm's users, the model's client) all read it so."""
    if status == OrderStatus.CANCELLED:
        return CANCELLED_AS.get(cancel_reason or "", Outcome.FAILED)
    if status in (OrderStatus.CONFIRMED, OrderStatus.PAID, OrderStatus.SHIPPED):
        return Outcome.WON
    return None


ATTEMPT_COLUMNS = ("run_id", "engine", "scenario", "strategy", "attempt_id", "user_id", "sku", "warehouse",
                   "qty", "t_intended", "t_start", "t_end", "outcome", "retries", "order_id", "resolved_late")
#: `resolved_late`: the client's answer said nothing final (lost, `202 pending`), and the outcome was learned
#: by polling the order afterwards (as a browser's status page does). False where an engine cannot do that.
ENGINES = ("real", "sim", "swarm")
#: A saga run's log beside its attempts: one row per step of each order, the model fits its step times to it.
SAGA_LOG_FILE = "saga_log.csv"
SAGA_LOG_COLUMNS = ("order_id", "order_status", "step", "status", "at")
PERCENTILES = (50, 90, 99)


def new_run_id(kind: str, label: str = "") -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return "-".join(p for p in (kind, label, stamp, secrets.token_hex(2)) if p)


def run_dir(run_id: str, parent: Path | None = None) -> Path:
    """results/<run_id>, or <parent>/<run_id> for the many runs a `validate` or `calibrate` makes (kept
    beside their table, so that `ls results` still lists what a user ran)."""
    d = (parent or results_home()) / run_id
    d.mkdir(parents=True, exist_ok=True)
    return d


def frame(rows: list[dict]) -> pd.DataFrame:
    """Attempt rows as a DataFrame in schema order; a missing or extra column is a bug, raised here."""
    for r in rows[:1] + rows[-1:]:
        if set(r) != set(ATTEMPT_COLUMNS):
            raise ValueError(f"attempt row keys differ from the schema: missing "
                             f"{sorted(set(ATTEMPT_COLUMNS) - set(r))}, extra {sorted(set(r) - set(ATTEMPT_COLUMNS))}")
    df = pd.DataFrame(rows, columns=list(ATTEMPT_COLUMNS))
    bad = set(df["outcome"].dropna()) - {o.value for o in Outcome}
    if bad:
        raise ValueError(f"outcomes outside the schema: {sorted(bad)}")
    return df


def summarize(df: pd.DataFrame, wall_s: float) -> dict:
    """Counts, throughput and latency from the *intended* start, so queueing shows (no coordinated omission)."""
    lat_ms = (df["t_end"] - df["t_intended"]) * 1000.0
    counts = {o.value: int((df["outcome"] == o.value).sum()) for o in Outcome}
    pct = {f"p{p}_ms": round(float(np.percentile(lat_ms, p)), 3) if len(df) else None for p in PERCENTILES}
    return {
        "attempts": int(len(df)),
        **counts,
        "throughput_per_s": round(len(df) / wall_s, 3) if wall_s > 0 else None,
        "won_per_s": round(counts["won"] / wall_s, 3) if wall_s > 0 else None,
        **pct,
        "max_ms": round(float(lat_ms.max()), 3) if len(df) else None,
        "retries": int(df["retries"].sum()) if len(df) else 0,
        "max_retries": int(df["retries"].max()) if len(df) else 0,
        "resolved_late": int(df["resolved_late"].fillna(False).astype(bool).sum()) if len(df) else 0,
        "wall_s": round(wall_s, 4),
    }


def write_run(path: Path, df: pd.DataFrame, summary: dict, audit: dict) -> Path:
    try:
        df.to_parquet(path / "attempts.parquet", index=False)
    except ImportError:
        df.to_csv(path / "attempts.csv", index=False)
    (path / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (path / "audit.json").write_text(json.dumps(audit, indent=2, default=str))
    return path


def read_run(path: str | Path) -> tuple[pd.DataFrame, dict, dict]:
    """(attempts, summary, audit) of one run directory: the one way notebooks load a run."""
    p = Path(path)
    if not p.is_dir():
        p = results_home() / str(path)
    if not (p / "summary.json").exists():
        raise FileNotFoundError(f"{path}: not a run directory (no summary.json)")
    parquet, csv = p / "attempts.parquet", p / "attempts.csv"
    df = pd.read_parquet(parquet) if parquet.exists() else pd.read_csv(csv)
    audit = json.loads((p / "audit.json").read_text()) if (p / "audit.json").exists() else {}
    return df, json.loads((p / "summary.json").read_text()), audit
