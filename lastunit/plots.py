"""Pictures where a picture beats a table: `matplotlib.figure.Figure` objects, PNG files in the run directory.

Why Figure objects and not pyplot: pyplot keeps global state and needs a backend; choosing one on import
(forcing the Agg backend, as this module once did) silently broke every notebook that imported us, since their figures then never
showed. A Figure draws on its own canvas in any process, and a notebook can display the very object we save.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

OUTCOME_COLORS = {"won": "#2a9d8f", "out_of_stock": "#8ab17d", "declined": "#e9c46a", "failed": "#f4a261",
                  "unknown": "#e76f51"}
#: Sharp enough to read a tick label on a laptop screen, small enough to commit.
DPI = 110


def save(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    fig.savefig(path, dpi=dpi)
    return path


def race_comparison_figure(results: list[dict]) -> Figure:
    """Outcomes (stacked, with oversold units marked) and p50/p99 latency per strategy."""
    labels = [f"{r['strategy']}\n({r['engine']})" if r.get("engine") != "real" else r["strategy"]
              for r in results]
    fig = Figure(figsize=(12, 4.5), layout="tight")
    ax1, ax2 = fig.subplots(1, 2)
    stock = results[0]["stock"]
    won = np.array([r["won"] for r in results], dtype=float)
    within = np.minimum(won, stock)
    ax1.bar(labels, within, color=OUTCOME_COLORS["won"], label="won (within stock)")
    ax1.bar(labels, won - within, bottom=within, color="#c1121f", label="won beyond stock: oversold")
    ax1.axhline(stock, color="black", lw=1, ls="--", label=f"stock = {stock}")
    for i, r in enumerate(results):
        others = ", ".join(f"{r.get(o, 0)} {o.replace('_', ' ')}" for o in ("out_of_stock", "failed", "unknown")
                           if r.get(o))
        ax1.annotate(others, (i, won[i]), ha="center", va="bottom", fontsize=7, rotation=90,
                     xytext=(0, 3), textcoords="offset points")
    ax1.set_ylim(0, max(won.max(), stock) * 1.6 + 1)
    ax1.set_ylabel("buyers who won a unit")
    ax1.set_title(f"{results[0]['buyers']} buyers, {results[0]['stock']} unit(s): who got what")
    ax1.legend(fontsize=8)
    x = np.arange(len(results))
    ax2.bar(x - 0.2, [r["p50_ms"] or 0 for r in results], 0.4, label="p50", color="#457b9d")
    ax2.bar(x + 0.2, [r["p99_ms"] or 0 for r in results], 0.4, label="p99", color="#1d3557")
    ax2.set_xticks(x, labels)
    ax2.set_ylabel("latency from release (ms)")
    ax2.set_title("latency")
    ax2.legend(fontsize=8)
    return fig


def race_comparison(results: list[dict], path: Path) -> Path:
    return save(race_comparison_figure(results), path)


def latency_cdf_figure(df, title: str) -> Figure:
    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.subplots()
    for outcome, part in df.groupby("outcome"):
        ms = np.sort((part["t_end"] - part["t_intended"]).to_numpy() * 1000)
        ax.step(ms, np.arange(1, len(ms) + 1) / len(ms), where="post", label=f"{outcome} ({len(ms)})",
                color=OUTCOME_COLORS.get(outcome))
    ax.set_xlabel("latency from intended start (ms)")
    ax.set_ylabel("fraction of attempts")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def latency_cdf(df, path: Path, title: str) -> Path:
    return save(latency_cdf_figure(df, title), path)


def sweep_plot(rows: list[dict], keys: list[str], path: Path, title: str) -> Path:
    """Each headline metric's mean with its 95% interval as error bars: against the last numeric grid
    axis, one line per combination of the other axes (or one bar per cell when no axis is numeric)."""
    metrics = [k for k in ("throughput_per_s", "sagas_per_s", "p50_ms", "p99_ms") if rows and k in rows[0]]
    numeric = [k for k in keys if all(isinstance(r[k], int | float) and not isinstance(r[k], bool) for r in rows)]
    x_key = numeric[-1] if numeric else None
    others = [k for k in keys if k != x_key]
    fig = Figure(figsize=(4.6 * len(metrics), 4.2), layout="tight")
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        if x_key is None:
            ax.bar(np.arange(len(rows)), [r[m] or 0 for r in rows], yerr=[r[f"{m}_ci95"] or 0 for r in rows],
                   capsize=3, color="#457b9d")
            ax.set_xticks(np.arange(len(rows)), [" ".join(str(r[k]) for k in keys) or "all" for r in rows],
                          rotation=60, fontsize=7)
        else:
            series: dict[tuple, list[dict]] = {}
            for r in rows:
                series.setdefault(tuple(r[k] for k in others), []).append(r)
            for label, part in series.items():
                part = sorted(part, key=lambda r: r[x_key])
                ax.errorbar([r[x_key] for r in part], [r[m] for r in part],
                            yerr=[r[f"{m}_ci95"] or 0 for r in part], marker="o", capsize=3,
                            label=" ".join(map(str, label)) or None)
            ax.set_xlabel(x_key)
            if others:
                ax.legend(fontsize=7, title=" ".join(others), title_fontsize=7)
        ax.set_title(f"{m} (mean, 95% CI over {rows[0]['seeds']} seeds)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save(fig, path, dpi=100)
