"""After a journey swarm: every request of every session, and each kind's latency beside the others.

Why beside each other: on Prime Day the checkouts compete with searches, product pages and recommendation
reads for the same two cores; a checkout p99 means little without what the browsing saw meanwhile. Files
a notebook loads with pandas: `requests.parquet` (one row per request) and `latency_by_kind.csv` (the table
printed); `latency_by_kind.png` draws each kind's latency distribution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lastunit.plots import save
from loadtests.records import REQUEST_COLUMNS
from scenarios.journey import KINDS

LATENCY_COLUMNS = ("kind", "requests", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms")


def merge_requests(run_dir: Path) -> pd.DataFrame:
    """Every worker's `requests-*.csv` as one table, with `latency_ms`, in start order."""
    parts = [p for p in (pd.read_csv(f, dtype={"session": "string", "kind": "string"})
                         for f in sorted(run_dir.glob("requests-*.csv"))) if len(p)]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(REQUEST_COLUMNS))
    df = df.astype({"t_start": float, "t_end": float, "ok": bool}).sort_values("t_start", kind="stable")
    return df.assign(latency_ms=(df["t_end"] - df["t_start"]) * 1000.0).reset_index(drop=True)


def latency_by_kind(df: pd.DataFrame) -> pd.DataFrame:
    """One row per kind in a session's order (KINDS), every kind present even with no request."""
    rows = []
    for kind in KINDS:
        lat = df.loc[df["kind"] == kind, "latency_ms"].to_numpy()
        pct = np.percentile(lat, [50, 90, 99]).round(1).tolist() if len(lat) else [None] * 3
        rows.append(dict(zip(LATENCY_COLUMNS, (kind, len(lat), int((~df.loc[df["kind"] == kind, "ok"]).sum()),
                                               *pct, round(float(lat.max()), 1) if len(lat) else None),
                             strict=True)))
    return pd.DataFrame(rows, columns=list(LATENCY_COLUMNS))


def figure(df: pd.DataFrame, title: str) -> Figure:
    """Each kind's latency as an empirical CDF on a log axis: where the tails part."""
    fig = Figure(figsize=(8, 5), layout="tight")
    ax = fig.subplots()
    for kind in KINDS:
        lat = np.sort(df.loc[df["kind"] == kind, "latency_ms"].to_numpy())
        if len(lat):
            ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", label=f"{kind} ({len(lat)})")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("share of requests at most this slow")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def write(run_dir: Path, title: str) -> pd.DataFrame:
    """requests.parquet, latency_by_kind.csv and .png into the run directory; returns the table."""
    df = merge_requests(run_dir)
    df.to_parquet(run_dir / "requests.parquet", index=False)
    table = latency_by_kind(df)
    table.to_csv(run_dir / "latency_by_kind.csv", index=False)
    save(figure(df, title), run_dir / "latency_by_kind.png", dpi=100)
    return table
