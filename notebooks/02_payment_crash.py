# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · The payment went through, then the payment service died
#
# **Question 2.** Payment authorization succeeded, but the payment service crashed before returning. How does
# the order service know whether to retry or roll back?
#
# > **Answer (Q2).** It cannot know from the silence, so it does not guess: a missing reply is **unknown**,
# > never "no". **It retries with the same idempotency key.** The payment service stores each key with a
# > *recovery point* (`started → provider_called → finished`), commits each phase in its own transaction,
# > and calls the provider with a key derived from ours. So whatever the crash point, a retry either gets the
# > stored result back (`idempotent_replay: true`) or resumes from the last committed phase, and the provider
# > answers with the charge it already made instead of making a second one. A background *completer* in the
# > payment service finishes any key a crash left mid-flight, whether or not the caller comes back, so the
# > key ends `finished` either way. **It rolls back only on a definite "no", or after a bounded wait:** a
# > decline (`402`) is compensated at once (the unit released, the order cancelled); a saga that still has no
# > answer after `MAX_DRIVES` attempts (the live request's, then the orders service's *recovery worker*'s) is
# > given up: the recovery worker releases the unit, cancels the order and publishes `OrderCancelled`, on
# > which the payment service **voids** every authorization it holds for that order (or refunds a capture).
# > Retrying is safe because of the key; rolling back is safe because every compensation is keyed too and
# > is driven by what the provider actually holds. A retry *without* the key (the control) is a new payment to
# > everyone: the auditor finds the second charge.
#
# The evidence, live, in this order: the crash after the provider charged (who finished the key), the crash
# after our row was committed (the stored reply), the control (no key: two charges), the rollback (a decline,
# then the recovery worker giving up, cancelling and voiding), and the whole saga under a crashing payment
# service with and without keys, explained number by number. About a minute and a half with the stack up.

# %% tags=["parameters"]
import os

SMALL = os.environ.get("LASTUNIT_NOTEBOOK_SMALL") == "1"   # `make test`: the same steps, less load
RATE = 4 if SMALL else 5          # checkouts per second in the saga runs at the end
LOAD_S = 2                        # seconds of load in each saga run
CRASH_P = 0.5                     # probability the payment service crashes after the provider charged

# %%
import json
import time
import uuid

import httpx
import pandas as pd
import psycopg

from lastunit.notebook import at_repository
from lastunit.progress import Progress
from lastunit.usecases import installed, run_saga
from reference_impl import stack
from reference_impl.infra.procs import wait_for
from reference_impl.infra.settings import database_url
from scenarios.loader import load
from scenarios.policy import AUTHORIZE_LOCK_TIMEOUT_S, MAX_DRIVES, ORDER_LEASE_S, RECOVERY_LEASE_S

at_repository()   # the repository's .lab/ and results/, where `lastunit up` keeps them
stack.ensure_up()
PG = stack.server_url("postgres")
PAYMENT, ORDERS, INVENTORY = (stack.service_url(s) for s in ("payment", "orders", "inventory"))


def faults(*specs: str, knobs: tuple[str, ...] = ()):
    """The payment_crash scenario with only these faults armed (and these knobs set): `installed(...)` arms
    them in every service for the length of a `with` block and clears them after, whatever happens."""
    return installed(load("payment_crash", ["faults=[" + ", ".join(specs) + "]", *knobs]))


def key_row(key: str) -> dict:
    with psycopg.connect(database_url(PG, "payments"), row_factory=psycopg.rows.dict_row) as c:
        return c.execute("SELECT recovery_point, locked_at IS NOT NULL AS locked, response_code "
                         "FROM idempotency_keys WHERE key = %s", (key,)).fetchone()


def provider_charges(order_id: str) -> pd.DataFrame:
    """The provider's ledger for one order: ground truth of what the customer's card holds."""
    with psycopg.connect(database_url(PG, "psp")) as c:
        rows = c.execute("SELECT id, idempotency_key, status, amount FROM charges WHERE reference = %s "
                         "ORDER BY created_at", (order_id,)).fetchall()
    return pd.DataFrame(rows, columns=["charge", "provider_key", "status", "amount"])


def payment_pid() -> int | None:
    try:
        return httpx.get(f"{PAYMENT}/healthz", timeout=5).json()["pid"]
    except httpx.HTTPError:
        return None


def authorize(key: str, order_id: str, timeout: float = 5.0):
    """What the order service does: POST /payments/authorize with an Idempotency-Key."""
    try:
        r = httpx.post(f"{PAYMENT}/payments/authorize", headers={"Idempotency-Key": key}, timeout=timeout,
                       json={"order_id": order_id, "amount": 4999, "card": "4242424242424242"})
        return r.status_code, r.json()
    except httpx.HTTPError as exc:
        return None, f"no answer: {type(exc).__name__}"


def fresh_sku(units: int = 1) -> str:
    sku = f"nb02-{time.time_ns()}"
    httpx.post(f"{INVENTORY}/stock/receipts", json={"sku": sku, "warehouse": "wh-1", "qty": units}).raise_for_status()
    return sku


# %% [markdown]
# ## Crash 1: the provider charged, our row is not yet written
#
# We arm the fault point `payment.after_provider_auth` with action `crash`: the payment service calls the
# provider, the provider authorizes the charge, and the process exits (`os._exit`) before it records the
# result. The supervisor restarts it within a second or so.

# %%
order_id, key = f"nb02-{uuid.uuid4().hex[:8]}", f"nb02-key-{uuid.uuid4().hex[:8]}"
pid_before = payment_pid()
with faults('{point="payment.after_provider_auth", action="crash", probability=1.0}'):
    print("first try:", authorize(key, order_id))
    crashed_at = time.monotonic()
pid_after = wait_for(lambda: (p := payment_pid()) != pid_before and p, 30, "the payment service's restart")
print(f"payment service pid {pid_before} -> {pid_after} (restarted by the supervisor)")
print("our key:", key_row(key))
provider_charges(order_id)

# %% [markdown]
# The provider holds one authorized charge; our key is stuck at `started`, still locked by the request that
# died. The order service does not know whether the customer was charged. It retries **with the same key**.
# Until the dead request's lock is older than `AUTHORIZE_LOCK_TIMEOUT_S` (3 s) the retry is told `409
# idempotency_key_in_use` and waits; after that, two things race for the key: our retry, and the payment
# service's completer, which looks for abandoned keys every half second. Whoever takes the lock resumes at
# `started` and calls the provider again with the same derived key; the provider answers with the charge it
# already made. We look at which of the two it was this time:

# %%
tries = []
while True:
    code, body = authorize(key, order_id)
    tries.append(code)
    if code != 409:                 # 409 idempotency_key_in_use: the dead request's lock has not expired
        break
    time.sleep(0.25)
print(f"retries answered {tries} over {time.monotonic() - crashed_at:.1f} s after the crash "
      f"(the dead request's lock expires after {AUTHORIZE_LOCK_TIMEOUT_S:g} s)")
print("the answer:", code, json.dumps(body))
finisher = ("the payment service's completer (in the background): our retry found the key finished and got "
            "the stored reply" if body["idempotent_replay"] else
            "our retry: it took over the abandoned key, resumed at `started`, called the provider with the same "
            "derived key and recorded the charge the provider returned")
print("who finished the key:", finisher)
print("our key:", key_row(key))
charges = provider_charges(order_id)
assert len(charges) == 1 and charges.status[0] == "authorized", "exactly one charge, whoever finished"
charges

# %% [markdown]
# Either way: one charge, one answer, and the same answer for every later retry. Nothing depends on the
# caller coming back: had the order service never retried, the completer would have finished the key.
#
# ## Crash 2: our row is committed, the reply is not sent
#
# Now `payment.before_reply`: the key is `finished` with its response stored, then the process dies before
# answering. The retry gets the stored response (`idempotent_replay: true`) without touching the provider.

# %%
order_id, key = f"nb02-{uuid.uuid4().hex[:8]}", f"nb02-key-{uuid.uuid4().hex[:8]}"
pid_before = payment_pid()
with faults('{point="payment.before_reply", action="crash", probability=1.0}'):
    print("first try:", authorize(key, order_id))
wait_for(lambda: (p := payment_pid()) != pid_before and p, 30, "the payment service's restart")
print("our key:", key_row(key))
code, body = authorize(key, order_id)
print("retry:", code, json.dumps(body))
assert body["idempotent_replay"] and len(provider_charges(order_id)) == 1
provider_charges(order_id)

# %% [markdown]
# ## The control: retry without the key
#
# A client that retries a lost authorize with a *fresh* key looks like a new payment to everyone: the
# payment service makes a second payment and the provider a second charge.

# %%
order_id = f"nb02-{uuid.uuid4().hex[:8]}"
with faults('{point="payment.before_reply", action="drop_reply", probability=1.0}'):
    for attempt in range(2):
        print(f"try {attempt + 1}:", authorize(f"nb02-fresh-{uuid.uuid4().hex[:8]}", order_id, timeout=2.0))
charges = provider_charges(order_id)
assert len(charges) == 2, "the control must charge twice"
charges


# %% [markdown]
# ## Rolling back
#
# **A definite "no".** A declined card (`4000000000000002`) is an answer, not a silence: the orders service
# compensates in the same request. The checkout goes through the orders service, as a client's would:

# %%
def checkout(sku: str, card: str = "4242424242424242") -> tuple[int, dict]:
    r = httpx.post(f"{ORDERS}/checkouts", json={"sku": sku, "qty": 1, "card": card}, timeout=60,
                   headers={"Idempotency-Key": f"nb02-checkout-{uuid.uuid4().hex[:8]}", "X-User-Id": "student"})
    return r.status_code, r.json()


def saga_log(order_id: str) -> pd.DataFrame:
    steps = httpx.get(f"{ORDERS}/orders/{order_id}/saga").json()["steps"]
    return pd.DataFrame(steps)[["step", "status", "detail", "at"]]


sku = fresh_sku()
code, body = checkout(sku, card="4000000000000002")
print("checkout:", code, json.dumps({k: body[k] for k in ("error", "detail")}))
declined = body["order"]["id"]
print("order:", httpx.get(f"{ORDERS}/orders/{declined}").json()["status"], "| stock of the SKU:",
      httpx.get(f"{INVENTORY}/stock/{sku}").json()["warehouses"][0])
saga_log(declined)

# %% [markdown]
# **No answer for too long: the recovery worker gives up.** With the key, a retry always gets a definite
# answer as soon as the payment service is back, so the saga goes forward. A rollback after a charge happens
# when no answer can be had: here every authorize reply is dropped *and* every retry uses a fresh key (the
# control's client), so every try makes a new charge and none is ever answered. The live request gives up
# after its retries (`202 pending`); after its lease (`ORDER_LEASE_S`) the orders service's recovery worker
# drives the saga again, every `RECOVERY_LEASE_S`, and after `MAX_DRIVES` drives it compensates: releases
# the unit, cancels the order and publishes `OrderCancelled`; the payment service voids every charge it
# recorded for the order. The faults stay armed until it is over (about half a minute):

# %%
print(f"policy: lease {ORDER_LEASE_S:g} s, then a drive every {RECOVERY_LEASE_S:g} s, give up after "
      f"{MAX_DRIVES} drives")
sku = fresh_sku()
with faults('{point="payment.before_reply", action="drop_reply", probability=1.0}',
            knobs=("payment.idempotency=false",)):          # the control's client: a fresh key per try
    code, body = checkout(sku)
    print("checkout:", code, json.dumps({k: body[k] for k in ("error", "detail")}))
    abandoned = body["order"]["id"]
    t0 = time.monotonic()
    order = wait_for(lambda: (o := httpx.get(f"{ORDERS}/orders/{abandoned}").json())["status"] == "cancelled" and o,
                     180, "the recovery worker to give up", interval=0.5)
    print(f"cancelled by the recovery worker after {time.monotonic() - t0:.0f} s: reason {order['cancel_reason']}")

wait_for(lambda: provider_charges(abandoned).status.eq("voided").all(), 30, "the voids", interval=0.5)
voided = provider_charges(abandoned)
print(f"the provider made {len(voided)} charges for this order (one per try) and holds {len(voided)} voids: "
      f"nothing stays authorized | stock: {httpx.get(f'{INVENTORY}/stock/{sku}').json()['warehouses'][0]}")
saga_log(abandoned)

# %% [markdown]
# ## The whole saga under fire, with and without keys
#
# `lastunit run payment_crash` sends checkouts through orders → inventory → payment → provider → webhook →
# shipping. Here the payment service **crashes after the provider charged** with probability `CRASH_P` on every
# authorize (so it crashes in both runs; the cell checks) and drops 30% of its replies; then the same with
# `payment.idempotency=false` (the order service's payment client retries with a fresh key). Faults are
# armed while the load runs; then the stack settles undisturbed and the auditor reads the provider's ledger.

# %%
FIRE = (f'faults=[{{point="payment.after_provider_auth", action="crash", probability={CRASH_P}}}, '
        '{point="payment.before_reply", action="drop_reply", probability=0.3}]')
small = [f"load.duration_s={LOAD_S}", f"load.shape=[{{at_s=0, rate={RATE}}}, {{at_s={LOAD_S}, rate={RATE}}}]", FIRE]
runs = {}
for label, extra in (("idempotency on", []), ("control: no key", ["payment.idempotency=false"])):
    out, code = run_saga(load("payment_crash", small + extra), Progress(enabled=False))
    runs[label] = out | {"exit": code}
rows = {}
for label, out in runs.items():
    a = out["audit"]
    fired = a["faults_fired"]
    rows[label] = {"checkouts": out["attempts"], "won": out["won"], "unknown": out["unknown"],
                   "crashes": sum(v for k, v in fired.items() if k.endswith(":crash")),
                   "dropped replies": sum(v for k, v in fired.items() if k.endswith(":drop_reply")),
                   **{f"orders {s}": n for s, n in a["by_status"].items() if n},
                   "double_charges": a["double_charges"], "provider net (c)": a["provider_net_cents"],
                   "paid orders (c)": a["paid_orders_cents"], "money_conserved": a["money_conserved"],
                   "stranded": a["stranded"], "exit": out["exit"]}
table = pd.DataFrame(rows).fillna(0)
table

# %%
on, off = table["idempotency on"], table["control: no key"]
assert on["crashes"] > 0 and off["crashes"] > 0, "the crash must happen in both runs (raise CRASH_P)"
assert on["double_charges"] == 0 and on["exit"] == 0, "with keys: no double charge, audit clean"
assert off["double_charges"] > 0 and off["exit"] == 1, "the control must double-charge, and the run exit 1"
for label, col in (("idempotency on", on), ("control: no key", off)):
    print(f"{label}: {int(col['checkouts'])} checkouts, {int(col['won'])} answered 'confirmed', "
          f"{int(col['unknown'])} never got a definite answer; the payment service crashed {int(col['crashes'])} "
          f"times and dropped {int(col['dropped replies'])} replies; double_charges {int(col['double_charges'])}, "
          f"provider net {int(col['provider net (c)'])} c vs paid orders {int(col['paid orders (c)'])} c")

# %% [markdown]
# **Reading the numbers.**
#
# * **`unknown`** is the *client's* view: the checkout's answer was lost (a crash kills every request in
#   flight in that process, not only the one that drew the fault, and until the supervisor has restarted it
#   every new authorize fails to connect; a dropped reply loses one), or the orders service still answered
#   `202 pending` after the client's retries. One crash can therefore leave many checkouts unknown. It does not mean the order was lost:
#   after the load the recovery worker and the completer finish every order, and the `orders ...` rows say
#   how each one ended. Nothing is `stranded`.
# * **`double_charges`** counts orders holding more than one live charge at the provider. With keys: 0,
#   however often payment crashed. Without: every retry of a lost authorize made a new charge.
# * **`money_conserved`** compares money actually *moved*: the provider's captures minus refunds against the
#   total of the orders that are paid or shipped. It can be `True` in the control too: the extra charges
#   are *authorizations* (a hold on the card) that were never captured, so no money moved twice, yet the
#   customer sees two holds until they are voided or expire. That is exactly why the auditor checks
#   `double_charges` separately, and why the control run exits 1 anyway.
#
# ## Exercises: change this, predict, then check
#
# 1. **Crash less often.** In the *parameters* cell set `CRASH_P = 0.05`. Predict: in the saga runs, how many
#    crashes, how many `unknown`, how many double charges in each run? Then rerun the notebook and check; if
#    the crash no longer happens in a run, the assertion after the table says so (why is that a useful
#    failure?).
# 2. **Crash before the provider call.** In cell *Crash 1*, change the point to
#    `payment.before_provider_call`. Predict: after the crash, what does the provider hold, and what
#    recovery point does the key show? Does the retry (or the completer) charge the card? Check the two
#    tables.
# 3. **A slower provider.** In the cell *The whole saga under fire*, add
#    `'{point="payment.before_provider_call", action="delay", delay_ms=2500, probability=0.3}'` inside
#    `FIRE`'s list (the order service waits 2 s for payment). Predict: more or fewer `unknown`, and any
#    double charge with keys? Check the table.
