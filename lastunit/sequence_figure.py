"""A sequence diagram as a matplotlib Figure: one lifeline per service, one row per message, in the order sent.

Requests are solid arrows, replies dashed, bus events dotted; decisions are dots on the deciding service;
the compensation is red. No browser needed (Mermaid needs one), and a notebook displays the Figure itself.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from lastunit.sequence import Msg, parties

STYLE = {"request": "-", "reply": "--", "event": ":"}
FORWARD, UNDO = "#1d3557", "#c1121f"


def figure(msgs: list[Msg], title: str = "checkout saga") -> Figure:
    names = parties(msgs)
    x = {p: i for i, p in enumerate(names)}
    fig = Figure(figsize=(1.5 * len(names) + 2.5, 0.32 * len(msgs) + 1.6), layout="tight")
    ax = fig.subplots()
    for p, i in x.items():
        ax.axvline(i, color="#bbb", lw=1, zorder=0)
        ax.text(i, -0.9, p, ha="center", va="bottom", fontweight="bold")
    t0 = msgs[0].at if msgs else 0
    for row, m in enumerate(msgs):
        color = UNDO if m.compensation else FORWARD
        if m.kind == "note" or m.src == m.dst:
            ax.plot([x[m.src]], [row], marker="o", color=color)
            ax.text(x[m.src] + 0.08, row, m.label, va="center", fontsize=7.5, color=color, style="italic")
        else:
            ax.annotate("", xy=(x[m.dst], row), xytext=(x[m.src], row),
                        arrowprops={"arrowstyle": "-|>" if m.kind == "request" else "->", "color": color,
                                    "ls": STYLE[m.kind], "lw": 1.2})
            ax.text((x[m.src] + x[m.dst]) / 2, row - 0.1, m.label, ha="center", va="bottom", fontsize=7.5,
                    color=color)
        ax.text(-0.55, row, f"+{(m.at - t0) * 1000:.0f} ms", va="center", ha="right", fontsize=7, color="#666")
    ax.set_ylim(len(msgs), -1.3)
    ax.set_xlim(-1.3, len(names) - 0.3)
    ax.axis("off")
    ax.set_title(title + "   (solid: request, dashed: reply, dotted: bus event, red: compensation)", fontsize=10)
    return fig


def plot(msgs: list[Msg], path, title: str = "checkout saga"):
    figure(msgs, title).savefig(path, dpi=110)
    return path
