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
# **Question.** Payment authorization succeeded, but the payment service crashed before returning. How does
# the order service know whether to retry or roll back?
#
# Short answer, which the live runs below demonstrate: **it does not have to know.** It retries with the
# *same idempotency key*. The payment service stores each key with a *recovery point* (`started →
# provider_called → finished`), commits each phase in its own transaction, and calls the provider with a key
# derived from ours. Whatever the crash point, the retry resumes from the last committed phase, and the
# provider returns the charge it already made instead of making a second one. Only a retry *without* the key
# (the control at the end) charges twice.

# %%
import json
import time
import uuid

import httpx
import pandas as pd
import psycopg
import redis

from lastunit.progress import Progress
from lastunit.usecases import run_saga
from reference_impl import stack
from reference_impl.infra.procs import wait_for
from reference_impl.infra.run_config import set_run
from reference_impl.infra.settings import database_url
from scenarios.loader import load

status = stack.ensure_up()
PG = stack.server_url("postgres")
PAYMENT = stack.service_url("payment")
R = redis.from_url(stack.server_url("redis"))


def key_row(key: str) -> dict:
    with psycopg.connect(database_url(PG, "payments"), row_factory=psycopg.rows.dict_row) as c:
        return c.execute("SELECT key, recovery_point, locked_at IS NOT NULL AS locked, response_code "
                         "FROM idempotency_keys WHERE key = %s", (key,)).fetchone()


def provider_charges(order_id: str) -> pd.DataFrame:
    with psycopg.connect(database_url(PG, "psp")) as c:
        rows = c.execute("SELECT id, idempotency_key, status, amount FROM charges WHERE reference = %s "
                         "ORDER BY created_at", (order_id,)).fetchall()
    return pd.DataFrame(rows, columns=["charge", "provider_key", "status", "amount"])


def payment_pid() -> int:
    return httpx.get(f"{PAYMENT}/healthz", timeout=5).json()["pid"]


def authorize(key: str, order_id: str, timeout: float = 5.0):
    try:
        r = httpx.post(f"{PAYMENT}/payments/authorize", headers={"Idempotency-Key": key}, timeout=timeout,
                       json={"order_id": order_id, "amount": 4999, "card": "4242424242424242"})
        return r.status_code, r.json()
    except httpx.HTTPError as exc:
        return None, f"no answer: {type(exc).__name__}"


def wait_for_payment_service() -> int:
    """The supervisor restarts the process; nothing signals us, so the lab's one bounded poll waits."""
    def pid():
        try:
            return payment_pid()
        except httpx.HTTPError:
            return None

    return wait_for(pid, 30, "the payment service")


# %% [markdown]
# ## Crash 1: the provider charged, our row is not yet written
#
# We arm the fault point `payment.after_provider_auth` with action `crash`: the payment service process
# calls the provider, the provider authorizes the charge, and the process exits (`os._exit`) before it
# records the result. The supervisor restarts it.

# %%
order_id, key = f"nb02-{uuid.uuid4().hex[:8]}", f"nb02-key-{uuid.uuid4().hex[:8]}"
set_run(R, {"faults": [{"point": "payment.after_provider_auth", "action": "crash", "probability": 1.0}]})
pid_before = payment_pid()
print("first try:", authorize(key, order_id))
set_run(R, None)
pid_after = wait_for_payment_service()
print(f"payment service pid {pid_before} -> {pid_after} (restarted by the supervisor)")
print("our key:", key_row(key))
provider_charges(order_id)

# %% [markdown]
# The provider holds one authorized charge; our key is stuck at `started`, still locked by the request that
# died. The order service does not know whether the customer was charged. It retries **with the same key**:

# %%
for _ in range(20):
    code, body = authorize(key, order_id)
    if code != 409:                      # 409 idempotency_key_in_use: the dead request's lock has not expired
        break
    time.sleep(0.5)
print("retry:", code, json.dumps(body))
print("our key:", key_row(key))
charges = provider_charges(order_id)
assert len(charges) == 1 and charges.status[0] == "authorized", "exactly one charge"
charges

# %% [markdown]
# The retry took over the abandoned key (its lock had expired), resumed at `started`, and called the
# provider again with the same derived key: the provider answered with the charge it had already made. One
# charge, and the order service got a definite answer. (Without a retry, the payment service's *completer*
# would have finished the key by itself within a second or two: nothing depends on the caller coming back.)
#
# ## Crash 2: our row is committed, the reply is not sent
#
# Now `payment.before_reply`: everything is recorded, then the process dies before answering.

# %%
order_id, key = f"nb02-{uuid.uuid4().hex[:8]}", f"nb02-key-{uuid.uuid4().hex[:8]}"
set_run(R, {"faults": [{"point": "payment.before_reply", "action": "crash", "probability": 1.0}]})
print("first try:", authorize(key, order_id))
set_run(R, None)
wait_for_payment_service()
print("our key:", key_row(key))
code, body = authorize(key, order_id)
print("retry:", code, json.dumps(body))
assert body["idempotent_replay"] and len(provider_charges(order_id)) == 1
provider_charges(order_id)

# %% [markdown]
# The key was `finished` with the response stored, so the retry got that stored response back
# (`idempotent_replay: true`) without touching the provider.
#
# ## The control: retry without the key
#
# A client that retries a timed-out authorize with a *fresh* key looks like a new payment to everyone.

# %%
order_id = f"nb02-{uuid.uuid4().hex[:8]}"
set_run(R, {"faults": [{"point": "payment.before_reply", "action": "drop_reply", "probability": 1.0}]})
for attempt in range(2):
    print(f"try {attempt + 1}:", authorize(f"nb02-fresh-{uuid.uuid4().hex[:8]}", order_id, timeout=2.0))
set_run(R, None)
charges = provider_charges(order_id)
assert len(charges) == 2, "the control must charge twice"
charges

# %% [markdown]
# ## The whole saga under fire
#
# `lastunit run payment_crash` sends checkouts through orders → inventory → payment → provider → webhook →
# shipping while replies are dropped and the payment service crashes. Then the same scenario with
# `payment.idempotency=false` (the order service's payment client retries without the key).

# %%
small = ["load.duration_s=2", "load.shape=[{at_s=0, rate=5}, {at_s=2, rate=5}]"]
runs = []
for label, extra in (("idempotency on", []), ("control: no key", ["payment.idempotency=false"])):
    out, code = run_saga(load("payment_crash", small + extra), Progress(enabled=False))
    a = out["audit"]
    runs.append({"run": label, "checkouts": out["attempts"], "won": out["won"], "unknown": out["unknown"],
                 "faults fired": sum(a["faults_fired"].values()), "double_charges": a["double_charges"],
                 "money_conserved": a["money_conserved"], "stranded": a["stranded"], "exit": code})
table = pd.DataFrame(runs).set_index("run")
table

# %%
assert table.loc["idempotency on", "double_charges"] == 0 and table.loc["idempotency on", "exit"] == 0
assert table.loc["control: no key", "double_charges"] > 0 and table.loc["control: no key", "exit"] == 1
print("with keys: no double charge; without: the auditor finds them and the run exits 1")

# %% [markdown]
# **So how does the order service know whether to retry or roll back?** It treats a missing answer as
# *unknown*, never as *no*, and retries with the same key a few times. If the payment service answers (the
# stored result, or a resumed one), the saga goes on. If it cannot get an answer for long, the order's
# recovery worker eventually gives up and **compensates**: it cancels the order and publishes
# `OrderCancelled`, and the payment service voids or refunds *every* charge the provider holds for that
# order, found by the order's reference at the provider. Retrying is safe because of the key; rolling back is
# safe because compensation asks the provider, the ground truth, what actually happened.
