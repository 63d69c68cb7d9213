"""After a swarm: merge the workers' files into one attempts table and draw what happened.

Why here and not in the locustfile: merging and plotting run in the CLI's process, after Locust exited,
so they can import pandas and matplotlib freely and never load locust or gevent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lastunit.plots import OUTCOME_COLORS, save
from scenarios.arrivals import rate_at
from scenarios.results import ATTEMPT_COLUMNS, frame

#: Buckets of the over-time plots: fine enough to see a spike that rises within a second.
BUCKET_S = 0.5
ARRIVAL_KEYS = ("crowd", "scheduled", "started", "late", "dropped", "attempts")


def merge_attempts(run_dir: Path) -> pd.DataFrame:
    parts = [pd.read_csv(p, dtype={"warehouse": "string", "order_id": "string"})
             for p in sorted(run_dir.glob("attempts-*.csv"))]
    parts = [p for p in parts if len(p)]
    if not parts:
        return frame([])
    df = pd.concat(parts, ignore_index=True)[list(ATTEMPT_COLUMNS)]
    return frame(df.sort_values("t_intended", kind="stable").to_dict("records"))


def merge_arrivals(run_dir: Path) -> dict:
    """Late and dropped starts over every worker, and the shared time zero."""
    stats = [json.loads(p.read_text()) for p in sorted(run_dir.glob("arrivals-*.json"))]
    out = {k: sum(int(s.get(k, 0) or 0) for s in stats) for k in ARRIVAL_KEYS}
    out["crowd"] = max((int(s.get("crowd", 0) or 0) for s in stats), default=0)
    out["max_lag_ms"] = max((s.get("max_lag_ms", 0.0) for s in stats), default=0.0)
    out["workers_reporting"] = len(stats)
    out["t0"] = min((s["t0"] for s in stats if s.get("t0")), default=None)
    return out


def _bucket(seconds: pd.Series) -> pd.Series:
    return (np.floor(seconds / BUCKET_S) * BUCKET_S).round(3)


def swarm_figure(df: pd.DataFrame, t0: float, shape: list, title: str) -> Figure:
    """Rate over time (the target shape, intended starts, answers), latency percentiles over time, outcomes."""
    fig = Figure(figsize=(10, 10), layout="tight")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    if len(df):
        rel = df.assign(ti=df["t_intended"] - t0, te=df["t_end"] - t0,
                        lat=(df["t_end"] - df["t_intended"]) * 1000.0)
        end = float(rel["te"].max())
        if shape:
            xs = np.linspace(0, end, 400)
            ax1.plot(xs, rate_at(shape, xs), color="black", lw=1, ls="--", label="target rate (scenario)")
        for col, label, color in (("ti", "intended starts", "#457b9d"), ("te", "answers", "#2a9d8f")):
            per = rel.groupby(_bucket(rel[col])).size() / BUCKET_S
            ax1.step(per.index, per.values, where="post", label=f"{label} /s", color=color)
        pct = rel.groupby(_bucket(rel["ti"]))["lat"].quantile([0.5, 0.9, 0.99]).unstack()
        for q, color in ((0.5, "#457b9d"), (0.9, "#e9c46a"), (0.99, "#e76f51")):
            ax2.plot(pct.index, pct[q], label=f"p{int(q * 100)}", color=color)
        counts = rel.groupby([_bucket(rel["te"]), "outcome"]).size().unstack(fill_value=0)
        bottom = np.zeros(len(counts))
        for outcome in counts.columns:
            ax3.bar(counts.index, counts[outcome], width=BUCKET_S, bottom=bottom, align="edge",
                    color=OUTCOME_COLORS.get(outcome), label=f"{outcome} ({int(counts[outcome].sum())})")
            bottom += counts[outcome].to_numpy()
    ax1.set_ylabel("checkouts per second")
    ax1.set_title(title)
    ax2.set_ylabel("latency from intended start (ms)")
    ax2.set_yscale("symlog", linthresh=10)
    ax3.set_ylabel(f"answers per {BUCKET_S:g} s")
    ax3.set_xlabel("seconds since the run's time zero")
    for ax in (ax1, ax2, ax3):
        ax.legend(fontsize=8, loc="upper right")
    return fig


def plot_swarm(df: pd.DataFrame, t0: float, shape: list, title: str, path: Path) -> Path:
    return save(swarm_figure(df, t0, shape, title), path, dpi=100)
