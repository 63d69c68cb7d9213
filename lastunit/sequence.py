"""A checkout's sequence diagram, drawn from what the databases recorded, not from what we meant to happen.

Why each arrow is stamped where it is: an arrow belongs where the message was *sent*, and no service logs
its sends, so a request is drawn when its receiver first recorded it (the reservation row, the payment row,
the provider's key), a reply when the caller logged the answer (the saga log), an event when it was written
to the outbox (published) and when each consumer began handling it (delivered). Stamped this way, a request
always comes before the calls it caused and before its reply. All services share one PostgreSQL cluster,
so all the times come from one clock. The queries are in `sql/sequence.sql`. Output: Mermaid text (renders
on GitHub) and a matplotlib Figure (`lastunit.sequence_figure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.policy import PROVIDER_KEY_PREFIX

Q = aiosql.from_path(str(Path(__file__).parent / "sql" / "sequence.sql"), "psycopg", mandatory_parameters=False)

PARTIES = ("client", "orders", "inventory", "payment", "psp", "bus", "shipping", "notification")
#: The database each publisher and consumer keeps its outbox or de-duplication rows in.
DATABASES = {"orders": "orders", "payment": "payments", "shipping": "shipping", "notification": "notifications"}
#: Words that mark a message as part of the compensation (drawn red).
UNDO = ("release", "refund", "Refund", "void", "Void", "cancel", "Cancel", "Failed", "failed")
#: Saga steps that are replies to a request the orders service sent (the rest are its own decisions).
REPLIES = {("reserve", "done"): ("inventory", "reserved"), ("authorize", "done"): ("payment", "authorized"),
           ("sell_stock", "done"): ("inventory", "sold"), ("release_stock", "compensated"): ("inventory", "released")}


@dataclass
class Msg:
    at: float
    src: str
    dst: str
    label: str
    kind: str = "request"          # request | reply | event | note
    compensation: bool = False


def _rows(server_url: str, db: str, query: str, **params) -> list[dict]:
    with psycopg.connect(database_url(server_url, db)) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute(getattr(Q, query).sql, params).fetchall()


def _msg(at, src, dst, label, kind) -> Msg:
    return Msg(float(at), src, dst, label, kind, any(w in label for w in UNDO))


def _saga(url: str, oid: str) -> list[Msg]:
    out = [_msg(r["at"], "client", "orders", "POST /checkouts", "request") for r in _rows(url, "orders", "checkout_of",
                                                                                            order_id=oid)]
    for r in _rows(url, "orders", "saga_steps", order_id=oid):
        step, status = r["step"], r["status"]
        if (step, status) in REPLIES:
            src, what = REPLIES[(step, status)]
            out.append(_msg(r["at"], src, "orders", what, "reply"))
        else:
            reason = (r["detail"] or {}).get("reason")
            out.append(_msg(r["at"], "orders", "orders", f"{step}: {status}" + (f" ({reason})" if reason else ""),
                            "note"))
        if (step, status) == ("confirm", "done"):
            out.append(_msg(r["at"], "orders", "client", "201: order confirmed", "reply"))
    for r in _rows(url, "inventory", "reservation_of", attempt_id=f"order-{oid}"):
        out.append(_msg(r["at"], "orders", "inventory", "reserve", "request"))
        if r["settled_at"] is not None and r["state"] in ("committed", "released"):
            verb = "commit (sell)" if r["state"] == "committed" else "release"
            out.append(_msg(r["settled_at"], "orders", "inventory", verb, "request"))
    return out


def _payment(url: str, oid: str) -> list[Msg]:
    out = [_msg(r["at"], "orders", "payment", "authorize", "request")
           for r in _rows(url, "payments", "authorizations_of", order_id=oid)]
    for r in _rows(url, "psp", "provider_calls", order_id=oid):
        what = r["key"].rsplit("-", 1)[-1]          # ...-authorize, <payment id>-capture, -void, -refund
        out.append(_msg(r["at"], "payment", "psp", f"{what} ({PROVIDER_KEY_PREFIX}… key)", "request"))
    for r in _rows(url, "psp", "charges_of", order_id=oid):
        out.append(_msg(r["at"], "psp", "payment", f"charge {r['id'][:10]}…: authorized", "reply"))
        if r["status"] == "voided":
            out.append(_msg(r["updated_at"], "psp", "payment", "voided", "reply"))
    for r in _rows(url, "psp", "ledger_of", order_id=oid):
        done = {"capture": "captured", "refund": "refunded"}.get(r["kind"], r["kind"])
        out.append(_msg(r["at"], "psp", "payment", f"{done} {abs(r['amount']) / 100:.2f}", "reply"))
    for r in _rows(url, "payments", "webhooks_of", order_id=oid):
        out.append(_msg(r["at"], "psp", "payment", f"webhook {r['type']}", "event"))
    return out


def _bus(url: str, oid: str) -> list[Msg]:
    out, topics = [], {}
    for source in ("orders", "payment", "shipping"):
        for r in _rows(url, DATABASES[source], "published", order_id=oid):
            topics[f"{source}:{r['id']}"] = r["topic"]
            out.append(_msg(r["at"], source, "bus", r["topic"], "event"))
    for consumer, db in DATABASES.items():
        for r in _rows(url, db, "delivered", event_ids=list(topics)):
            out.append(_msg(r["at"], "bus", consumer, topics[r["event_id"]], "event"))
    return out


def messages(server_url: str, order_id: str) -> list[Msg]:
    """Every message of one order's saga across the services, in the order it was sent."""
    oid = str(order_id)
    msgs = _saga(server_url, oid) + _payment(server_url, oid) + _bus(server_url, oid)
    return sorted(msgs, key=lambda m: m.at)


def parties(msgs: list[Msg]) -> list[str]:
    return [p for p in PARTIES if any(p in (m.src, m.dst) for m in msgs)]


def to_mermaid(msgs: list[Msg]) -> str:
    """Requests `->>`, replies `-->>`, events `-)`, decisions as notes; the compensation on a red band."""
    arrows = {"request": "->>", "reply": "-->>", "event": "-)"}
    lines = ["sequenceDiagram"] + [f"    participant {p}" for p in parties(msgs)]
    t0 = msgs[0].at if msgs else 0
    for m in msgs:
        when = f"+{(m.at - t0) * 1000:.0f} ms"
        line = (f"Note over {m.src}: {m.label} ({when})" if m.kind == "note"
                else f"{m.src}{arrows[m.kind]}{m.dst}: {m.label} ({when})")
        lines += ["    rect rgb(255, 225, 225)", f"        {line}", "    end"] if m.compensation else [f"    {line}"]
    return "\n".join(lines)
