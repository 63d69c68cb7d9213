# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The full saga, and its compensation when shipping fails after payment
#
# A checkout is a saga across services that do not share a database: reserve (inventory) → authorize
# (payment → provider) → confirm (orders) → capture, and the provider's **signed webhook** makes the order
# *paid* → shipping creates a label → the reservation becomes a sale → shipped. When the carrier refuses the
# label *after the customer paid*, every step already done is undone by a compensation: the reservation is
# released, the payment refunded, the order cancelled, the buyer told.
#
# Both diagrams below are drawn from what the databases recorded during a live run: the orders saga log,
# every service's outbox, the payment service's webhook log, the provider's ledger and the notifications.

# %%
import time

import httpx
import pandas as pd
import psycopg
import redis
from IPython.display import Image, Markdown, display

from lastunit.sequence import messages, plot, to_mermaid
from reference_impl import stack
from reference_impl.audit.saga import audit_saga
from reference_impl.infra.procs import wait_for
from reference_impl.infra.run_config import set_run
from reference_impl.infra.settings import database_url
from scenarios.paths import results_home

stack.ensure_up()
PG, ORDERS, INVENTORY = stack.server_url("postgres"), stack.service_url("orders"), stack.service_url("inventory")
R = redis.from_url(stack.server_url("redis"))
OUT = results_home() / "notebook03"
OUT.mkdir(parents=True, exist_ok=True)


def checkout(sku: str) -> str:
    key = f"nb03-{time.time_ns()}"
    httpx.post(f"{INVENTORY}/stock/receipts", json={"sku": sku, "warehouse": "wh-1", "qty": 1}).raise_for_status()
    r = httpx.post(f"{ORDERS}/checkouts", json={"sku": sku, "qty": 1},
                   headers={"Idempotency-Key": key, "X-User-Id": "student"}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def settle(order_id: str, timeout: float = 30.0) -> dict:
    """Until the order is final and the provider's money agrees with it (the lab's one bounded poll)."""
    def settled():
        order = httpx.get(f"{ORDERS}/orders/{order_id}").json()
        if order["status"] not in ("shipped", "cancelled"):
            return None
        with psycopg.connect(database_url(PG, "psp")) as c:
            charge = c.execute("SELECT status FROM charges WHERE reference = %s", (order_id,)).fetchone()[0]
        return order if (order["status"] == "shipped") == (charge == "captured") and charge != "authorized" else None

    return wait_for(settled, timeout, f"order {order_id} to settle")


def show(order_id: str, title: str, name: str) -> None:
    msgs = messages(PG, order_id)
    display(Markdown(f"```mermaid\n{to_mermaid(msgs)}\n```"))
    display(Image(filename=str(plot(msgs, OUT / f"{name}.png", title))))


# %% [markdown]
# ## The happy path

# %%
happy = settle(checkout(f"nb03-happy-{time.time_ns()}"))
print("order", happy["id"], "is", happy["status"])
show(happy["id"], "checkout: the happy path", "happy")

# %% [markdown]
# ## Shipping fails after payment
#
# We arm the fault point `shipping.create_label` with action `error` (the carrier refuses), for this order.

# %%
set_run(R, {"faults": [{"point": "shipping.create_label", "action": "error", "probability": 1.0}]})
try:
    failed = settle(checkout(f"nb03-fail-{time.time_ns()}"))
finally:
    set_run(R, None)
print("order", failed["id"], "is", failed["status"], "because", failed["cancel_reason"])
show(failed["id"], "shipping fails after payment: compensation (red, dashed)", "compensation")

# %% [markdown]
# ## What the saga log says, and what the auditor checks

# %%
steps = httpx.get(f"{ORDERS}/orders/{failed['id']}/saga").json()["steps"]
pd.DataFrame(steps)[["step", "status", "detail", "at"]]

# %%
with psycopg.connect(database_url(PG, "psp")) as c:
    ledger = c.execute("SELECT l.kind, l.amount, l.at FROM ledger_entries l JOIN charges ch ON ch.id = l.charge_id "
                       "WHERE ch.reference = %s ORDER BY l.id", (failed["id"],)).fetchall()
stock = httpx.get(f"{INVENTORY}/stock/{failed['sku']}").json()["warehouses"][0]
notes = httpx.get(f"{stack.service_url('notification')}/notifications/{failed['id']}").json()["notifications"]
print("provider ledger:", [(k, a) for k, a, _ in ledger])
print("stock of the SKU:", stock)
print("buyer was told:", [n["kind"] for n in notes])
assert [k for k, _, _ in ledger] == ["capture", "refund"] and sum(a for _, a, _ in ledger) == 0
assert (stock["available"], stock["reserved"], stock["sold"]) == (1, 0, 0)
assert "OrderCancelled" in [n["kind"] for n in notes]
audit = audit_saga(PG)
print({k: audit[k] for k in ("double_charges", "money_conserved", "stranded", "shipped_unpaid")})

# %% [markdown]
# **Reading the diagram.** Everything up to `OrderPaid` is the forward path. The carrier's refusal arrives
# as a `ShipmentFailed` event; the orders service compensates in reverse order of what was done: it releases
# the reservation (inventory), cancels the order and publishes `OrderCancelled`; the payment service,
# consuming that event, asks the provider what it holds for the order and refunds the capture (a void, had
# it not been captured yet); the provider's `payment.refunded` webhook closes the loop. Each compensation is
# idempotent (keyed by the order or payment id), so a redelivered event or a crash mid-compensation repeats
# nothing. The unit is available again, the money is back, and the auditor finds nothing stranded.
#
# The Mermaid text above renders on GitHub; the PNG is written to `results/notebook03/`.

# %% [markdown]
# ## The same failure in the SimPy model
#
# The model (`sim/saga/`) plays the same scenario file with the carrier refusing every label. It has no
# services, only their rules: the provider's ledger, the payment keys, the orders saga and its
# compensation, the reservation's TTL. If its rules drifted from the services', its verdicts would differ
# from the real auditor's; both go through the same checks (`scenarios/saga_checks.py`).

# %%
from lastunit.usecases import combined_audit
from scenarios.loader import load
from sim.saga_run import simulate_saga

refuse_all = 'faults=[{point="shipping.create_label", action="error", probability=1.0}]'
model = simulate_saga(load("shipping_failure", [refuse_all]), "nb03-model")
verdict = combined_audit(model.saga, model.inventory, model.faults_fired)
print("orders by status:", model.saga["by_status"])
print("why cancelled:", model.stats["cancel_reasons"])
print({k: verdict[k] for k in ("oversold_units", "double_charges", "money_conserved", "stranded")})
assert model.stats["cancel_reasons"].get("shipping_failed", 0) > 0 and verdict["money_conserved"]
assert verdict["oversold_units"] == 0 and verdict["double_charges"] == 0 and verdict["stranded"] == 0

# %% [markdown]
# Every paid order whose label was refused ends `cancelled` with `shipping_failed`, its capture refunded
# and its unit released, as on the real stack above; `lastunit run shipping_failure --engine both` puts
# the two side by side for a whole crowd.
