"""`lastunit validate`'s picture: the model against the real stack, cell by cell, readable by someone new.

Why these choices: each scatter panel is one metric with its unit, the model's prediction against the
measurement (on the dashed line the model is exact), a band of +-25% around it (the p50 target); the legend
names only the strategies that ran; retries get a panel only when some cell retried (an empty panel reads as
a broken plot); the per-cell bars are wide enough for their labels.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

#: (metric, panel title, unit) for the scatter panels.
PANELS = (("throughput_per_s", "throughput", "buyers answered per s"), ("p50_ms", "median latency (p50)", "ms"),
          ("p99_ms", "tail latency (p99)", "ms"), ("retries", "retries (summed over a race)", "count"))
COUNTS = (("won", "#2a9d8f"), ("out_of_stock", "#8ab17d"), ("failed", "#f4a261"), ("unknown", "#e76f51"))
BAND = 0.25


def _scatter(ax, rows: list[dict], key: str, title: str, unit: str, colors: dict) -> None:
    real = np.array([r[f"{key}_real"] for r in rows], float)
    sim = np.array([r[f"{key}_sim"] for r in rows], float)
    ax.scatter(real, sim, c=[colors[r["strategy"]] for r in rows], s=[14 + r["buyers"] for r in rows],
               edgecolors="white", linewidths=0.5, zorder=3)
    positive = np.concatenate([real, sim])
    positive = positive[positive > 0]
    lo, hi = (positive.min() / 1.5, positive.max() * 1.5) if len(positive) else (0.5, 2.0)
    xs = np.geomspace(lo, hi, 50)
    scale = "symlog" if key == "retries" else "log"       # a race without retries has 0 of them
    if scale == "symlog":
        lo, xs = 0.0, np.concatenate([[0.0], xs])
    ax.plot(xs, xs, "k--", lw=1, label="model = real")
    ax.fill_between(xs, xs * (1 - BAND), xs * (1 + BAND), color="#999", alpha=0.15, label=f"within {BAND:.0%}")
    ax.set(xscale=scale, yscale=scale, xlim=(lo, hi), ylim=(lo, hi), title=title,
           xlabel=f"measured on the stack ({unit})", ylabel=f"model's prediction ({unit})")
    for axis in (ax.xaxis, ax.yaxis):     # plain numbers, at 1, 2, 5 x 10^n: no "3x10^0" running together
        if scale == "log":
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _cell_labels(rows: list[dict]) -> list[str]:
    return [f"{r['strategy']}\n{r['buyers']} buyers\nstock {r['stock']}" for r in rows]


def figure(rows: list[dict]) -> Figure:
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    colors = {s: f"C{i}" for i, s in enumerate(strategies)}
    panels = [p for p in PANELS if p[0] != "retries" or any(r["retries_real"] or r["retries_sim"] for r in rows)]
    fig = Figure(figsize=(4.6 * len(panels), 10.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.15])
    for ax, (key, title, unit) in zip(top.subplots(1, len(panels)), panels, strict=True):
        _scatter(ax, rows, key, title, unit, colors)
    guides = top.axes[0].get_legend_handles_labels()[0]
    handles = [top.axes[0].scatter([], [], c=c, label=s) for s, c in colors.items()]
    top.legend(handles=handles + guides, loc="outside upper center", ncol=len(handles) + 2, fontsize=9,
               title="strategy (dot size: buyers)", title_fontsize=9)
    out, err = bottom.subplots(1, 2)
    x, labels = np.arange(len(rows)), _cell_labels(rows)
    for eng, off, alpha in (("real", -0.2, 1.0), ("sim", 0.2, 0.5)):
        base = np.zeros(len(rows))
        for k, color in COUNTS:
            v = np.array([r[f"{k}_{eng}"] / r["buyers"] for r in rows], float)
            out.bar(x + off, v, 0.38, bottom=base, color=color, alpha=alpha,
                    label=k.replace("_", " ") if eng == "real" else None)
            base += v
    out.set_xticks(x, labels, fontsize=7)
    out.set(ylim=(0, 1.3), ylabel="share of the buyers", title="outcomes per cell: real (solid, left), model (pale, right)")
    out.legend(fontsize=8, ncol=4, loc="upper center")
    for i, (key, title, _) in enumerate(PANELS[:3]):
        err.bar(x + (i - 1) * 0.27, [100 * (r[f"{key}_err"] or 0) for r in rows], 0.27, label=title)
    err.axhline(0, color="black", lw=0.8)
    for sign in (-1, 1):
        err.axhline(sign * 100 * BAND, color="#999", lw=0.8, ls=":")
    err.set_xticks(x, labels, fontsize=7)
    err.set(ylabel="model error: (model - real) / real (%)", title="the model's error per cell")
    err.legend(fontsize=8)
    return fig
