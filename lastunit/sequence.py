"""A checkout's sequence diagram, drawn from what the databases recorded, not from what we meant to happen.

Each service's own tables give the timestamps: the saga log (orders), each outbox (events published), the
payment service's webhook log, the provider's ledger and events, the notifications. Output as Mermaid text
(renders on GitHub) and as a PNG drawn with matplotlib (no browser needed).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from reference_impl.infra.settings import database_url

PARTIES = ("client", "orders", "inventory", "payment", "psp", "bus", "shipping", "notification")
SAGA_ARROWS = {"reserve": ("orders", "inventory", "reserve"), "authorize": ("orders", "payment", "authorize"),
               "sell_stock": ("orders", "inventory", "commit (sell)"),
               "release_stock": ("orders", "inventory", "release reservation")}


@dataclass
class Msg:
    at: float
    src: str
    dst: str
    label: str
    compensation: bool = False


def _q(url: str, db: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(database_url(url, db)) as conn:
        return conn.execute(sql, args).fetchall()


def messages(server_url: str, order_id: str) -> list[Msg]:
    out: list[Msg] = []
    for (created,) in _q(server_url, "orders", "SELECT extract(epoch FROM created_at) FROM orders WHERE id = %s",
                         order_id):
        out.append(Msg(created, "client", "orders", "POST /checkouts"))
    for step, status, at in _q(server_url, "orders", "SELECT step, status, extract(epoch FROM at) FROM saga_log "
                               "WHERE order_id = %s ORDER BY id", order_id):
        if step in SAGA_ARROWS and status in ("done", "compensated"):
            src, dst, label = SAGA_ARROWS[step]
            out.append(Msg(at, src, dst, label, status == "compensated"))
        elif step in ("confirm", "paid", "ship", "cancel"):
            out.append(Msg(at, "orders", "orders", f"{step}: {status}", status in ("compensated", "failed")))
    for db, src in (("orders", "orders"), ("payments", "payment"), ("shipping", "shipping")):
        for topic, at in _q(server_url, db, "SELECT topic, extract(epoch FROM created_at) FROM outbox "
                            "WHERE payload->>'order_id' = %s ORDER BY id", order_id):
            out.append(Msg(at, src, "bus", topic, topic in ("OrderCancelled", "ShipmentFailed", "PaymentRefunded")))
    for kind, amount, at in _q(server_url, "psp", "SELECT l.kind, l.amount, extract(epoch FROM l.at) FROM "
                               "ledger_entries l JOIN charges c ON c.id = l.charge_id WHERE c.reference = %s",
                               order_id):
        out.append(Msg(at, "payment", "psp", f"{kind} {abs(amount) / 100:.2f}", kind == "refund"))
    for (created,) in _q(server_url, "psp", "SELECT extract(epoch FROM created_at) FROM charges WHERE reference = %s",
                         order_id):
        out.append(Msg(created, "payment", "psp", "authorize charge"))
    for etype, at in _q(server_url, "payments", "SELECT w.type, extract(epoch FROM w.received_at) FROM "
                        "webhook_events w JOIN payments p ON p.psp_charge_id = w.charge_id WHERE p.order_id = %s",
                        order_id):
        out.append(Msg(at, "psp", "payment", f"webhook {etype}", etype == "payment.refunded"))
    for kind, at in _q(server_url, "notifications", "SELECT kind, extract(epoch FROM sent_at) FROM notifications "
                       "WHERE order_id = %s", order_id):
        out.append(Msg(at, "bus", "notification", f"notify: {kind}", kind == "OrderCancelled"))
    return sorted(out, key=lambda m: m.at)


def to_mermaid(msgs: list[Msg]) -> str:
    lines = ["sequenceDiagram"] + [f"    participant {p}" for p in PARTIES if any(p in (m.src, m.dst) for m in msgs)]
    t0 = msgs[0].at if msgs else 0
    for m in msgs:
        arrow = "-->>" if m.compensation else "->>"
        lines.append(f"    {m.src}{arrow}{m.dst}: {m.label} (+{(m.at - t0) * 1000:.0f} ms)")
    return "\n".join(lines)


def plot(msgs: list[Msg], path, title: str = "checkout saga"):
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    parties = [p for p in PARTIES if any(p in (m.src, m.dst) for m in msgs)]
    x = {p: i for i, p in enumerate(parties)}
    fig, ax = plt.subplots(figsize=(1.6 * len(parties) + 2, 0.38 * len(msgs) + 1.5))
    for p, i in x.items():
        ax.axvline(i, color="#bbb", lw=1, zorder=0)
        ax.text(i, -0.8, p, ha="center", va="bottom", fontweight="bold")
    t0 = msgs[0].at if msgs else 0
    for row, m in enumerate(msgs):
        color = "#c1121f" if m.compensation else "#1d3557"
        if m.src == m.dst:
            ax.plot([x[m.src]], [row], marker="o", color=color)
            ax.text(x[m.src] + 0.08, row, m.label, va="center", fontsize=8, color=color)
        else:
            ax.annotate("", xy=(x[m.dst], row), xytext=(x[m.src], row),
                        arrowprops={"arrowstyle": "->", "color": color, "ls": "--" if m.compensation else "-"})
            ax.text((x[m.src] + x[m.dst]) / 2, row - 0.12, m.label, ha="center", va="bottom", fontsize=8,
                    color=color)
        ax.text(-0.6, row, f"+{(m.at - t0) * 1000:.0f} ms", va="center", ha="right", fontsize=7, color="#666")
    ax.set_ylim(len(msgs), -1.2)
    ax.set_xlim(-1.2, len(parties) - 0.4)
    ax.axis("off")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
