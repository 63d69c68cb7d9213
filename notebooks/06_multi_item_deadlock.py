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
# # 06 · Two buyers, two items: the deadlock, and the lock order that prevents it
#
# **Question 6** (beyond the assignment's four: the multi-item hazard). Two buyers each want the same basket
# {A, B}, all or nothing. Why can they deadlock, and what lock order prevents it?
#
# > **Answer (Q6).** A basket is reserved **in one transaction that locks one stock row per item** and holds
# > every lock until it commits (that is what makes it all-or-nothing). If buyer 1 locks A and then asks for B
# > while buyer 2 has locked B and asks for A, each waits for a lock the other holds and will never release:
# > a **cycle in the wait-for graph**, a deadlock. Neither can proceed by waiting longer. PostgreSQL does not
# > prevent it; it **detects** it: a session that has waited `deadlock_timeout` (1 s by default) searches for
# > a cycle and, finding one, aborts its own transaction with SQLSTATE **40P01** `deadlock detected`. The
# > victim's whole transaction rolls back (it held A or B, never the basket), the other buyer gets both.
# > Nothing is oversold and no basket is half held, but the victim lost a second and its turn, and in a
# > crowd the cycles chain. **The fix is one global lock order**: every transaction sorts its lines (by SKU,
# > then warehouse) before it locks any row. Then every buyer asks for A before B; whoever holds A is never
# > waiting for anyone who waits for A, so no cycle can form: a buyer may queue, but only behind a buyer who
# > can finish. In the lab that is `inventory.lock_order = "sorted"` (the default), for every strategy that
# > reserves baskets; `"request"` (lock in the order the request lists the lines) is the **control** that
# > deadlocks.
#
# The evidence, live: two sessions inside PostgreSQL locking A then B against B then A (the wait-for graph in
# `pg_locks`, then PostgreSQL's own 40P01 error), and the same two in sorted order; two buyers through the
# inventory service (the victim's actual `503 deadlock`, counted in `GET /stats`); a crowd on one basket
# under both orders for each strategy (deadlocks, winners, latency, the audit); and the SimPy model's
# prediction beside it, with the one thing it leaves out shown live. About a minute with the stack up.

# %% tags=["parameters"]
import os

# `make test` sets LASTUNIT_NOTEBOOK_SMALL=1: the same steps with a smaller crowd and two strategies.
SMALL = os.environ.get("LASTUNIT_NOTEBOOK_SMALL") == "1"
BUYERS = 10 if SMALL else 40       # buyers racing for one basket {A, B} in the crowd study
STRATEGIES = ["pessimistic", "guarded"] if SMALL else ["pessimistic", "guarded", "optimistic", "serializable"]
SETS = 1                           # units of A and of B in the crowd study (each winner takes one of each)
DEADLOCK_TIMEOUT = "1s"            # the two sessions' deadlock_timeout (PostgreSQL's default is 1s)
MODEL_BUYERS = [2, 4, BUYERS] if SMALL else [2, 4, 10, 20, BUYERS]   # crowds: the model against the real stack

# %%
# %matplotlib inline
import json
import threading
import time

import aiosql
import httpx
import pandas as pd
import psycopg
from IPython.display import Markdown
from matplotlib.figure import Figure

from lastunit.notebook import at_repository
from lastunit.progress import Progress
from lastunit.usecases import race_one
from reference_impl import stack
from reference_impl.infra.procs import wait_for
from reference_impl.infra.settings import database_url
from reference_impl.inventory.reserve import SQL_DIR
from scenarios.loader import load
from scenarios.results import read_run
from scenarios.strategies import LockOrder
from sim.basket import Baskets

at_repository()   # the repository's .lab/ and results/, where `lastunit up` keeps them
status = stack.ensure_up()
PG, INVENTORY = stack.server_url("postgres"), stack.service_url("inventory")
INV_DB = database_url(PG, "inventory")
Q = aiosql.from_path(str(SQL_DIR), "psycopg", mandatory_parameters=False)   # the very blocks the service runs
WATCH = psycopg.connect(INV_DB, autocommit=True)                            # our window on pg_locks
pd.DataFrame(status).T[["state", "url"]].assign(url=lambda d: d.url.str.split("@").str[-1])

# %% [markdown]
# ## Two sessions inside PostgreSQL: A then B against B then A
#
# The pessimistic basket locks each line's stock rows with this block (read from
# `reference_impl/inventory/sql/lines.sql`, as the service loads it); the service runs it once per line,
# inside the basket's one transaction, and keeps every lock until `COMMIT`:

# %%
Markdown(f"```sql\n{Q.lock_line_rows.sql.replace('%(sku)s', ':sku').replace('%(warehouse)s', ':warehouse')}\n```")


# %% [markdown]
# Two fresh SKUs, A and B, one unit each. Buyer 1 locks A, buyer 2 locks B; then buyer 1 asks for B. It
# waits. We look at `pg_locks` while it waits:

# %%
def stocked(units: int, prefix: str = "nb06") -> tuple[str, str]:
    """Two new SKUs, A and B (A sorts first), with `units` each in warehouse wh-1, received through the service."""
    stamp = time.time_ns()
    skus = (f"{prefix}-{stamp}-A", f"{prefix}-{stamp}-B")
    for sku in skus:
        httpx.post(f"{INVENTORY}/stock/receipts", json={"sku": sku, "warehouse": "wh-1", "qty": units}).raise_for_status()
    return skus


def session() -> psycopg.Connection:
    """A database session of our own, with the deadlock_timeout of the parameters cell."""
    conn = psycopg.connect(INV_DB, autocommit=True)
    conn.execute("SELECT set_config('deadlock_timeout', %s, false)", [DEADLOCK_TIMEOUT])
    conn.autocommit = False      # from here on, every statement is inside one transaction until commit
    return conn


def lock(conn: psycopg.Connection, sku: str) -> list:
    """The pessimistic line step's lock: the SKU's stock rows, FOR UPDATE (it waits while another holds them)."""
    return list(Q.lock_line_rows(conn, sku=sku, warehouse=None))


def blocked_by(pid: int) -> list[int]:
    return WATCH.execute("SELECT pg_blocking_pids(%s)", [pid]).fetchone()[0]


class Attempt(threading.Thread):
    """One lock request in the background: it may wait; `error` is PostgreSQL's, if it refused."""

    def __init__(self, conn: psycopg.Connection, sku: str):
        super().__init__()
        self.conn, self.sku, self.error, self.t_end = conn, sku, None, None
        self.t_start = time.monotonic()
        self.start()

    def run(self) -> None:
        try:
            lock(self.conn, self.sku)
        except psycopg.errors.DeadlockDetected as exc:
            self.error = exc
            self.conn.rollback()
        self.t_end = time.monotonic()


def xid(conn: psycopg.Connection) -> str:
    """The session's transaction id (what its row locks point to, and what a waiter waits for)."""
    return conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0]


def locks_of(names: dict[int, str], xids: dict[str, str], skus: tuple[str, ...]) -> pd.DataFrame:
    """pg_locks for our sessions (`names`: pid -> name; `xids`: xid -> name), the row and transaction locks,
    each in words."""
    ctids = dict(WATCH.execute("SELECT ctid::text, sku FROM stock WHERE sku = ANY(%s)", [list(skus)]).fetchall())
    rows = WATCH.execute(
        "SELECT pid, locktype, mode, granted, '(' || page || ',' || tuple || ')' AS ctid, transactionid::text "
        "FROM pg_locks WHERE pid = ANY(%s) AND locktype IN ('transactionid', 'tuple') ORDER BY pid, granted DESC",
        [list(names)]).fetchall()
    return pd.DataFrame([{"session": names[pid], "lock": kind, "mode": mode, "granted": granted,
                          "on": (f"the row of {ctids.get(ctid, ctid)[-1]} (tuple {ctid})" if kind == "tuple"
                                 else f"{xids.get(xid, '?')}'s transaction (xid {xid})")}
                         for pid, kind, mode, granted, ctid, xid in rows])


A, B = stocked(1)
one, two = session(), session()
names = {one.info.backend_pid: "buyer 1", two.info.backend_pid: "buyer 2"}
lock(one, A)                                          # buyer 1 holds A
lock(two, B)                                          # buyer 2 holds B
xids = {xid(one): "buyer 1", xid(two): "buyer 2"}
first = Attempt(one, B)                               # buyer 1 asks for B: buyer 2 holds it
wait_for(lambda: blocked_by(one.info.backend_pid), 10, "buyer 1 waiting on B")
print(f"buyer 1 (pid {one.info.backend_pid}) is blocked by {blocked_by(one.info.backend_pid)} (buyer 2); "
      f"buyer 2 is blocked by {blocked_by(two.info.backend_pid)}: a wait, not yet a deadlock")
locks_of(names, xids, (A, B))

# %% [markdown]
# Read it as a graph: buyer 1 holds its own transaction's lock (every row it locked points there) and
# **waits for a share of buyer 2's transaction lock** (`ShareLock`, not granted): that is how PostgreSQL
# waits for a row: by waiting for the transaction that locked it to end. It also holds the *tuple* lock of
# B's row: its place at the head of B's queue. One edge, buyer 1 → buyer 2: no cycle yet, buyer 2 could
# still commit and let buyer 1 go.
#
# Now buyer 2 asks for A, which buyer 1 holds. That closes the cycle: buyer 1 → buyer 2 → buyer 1.

# %%
second = Attempt(two, A)                              # buyer 2 asks for A: buyer 1 holds it
first.join(30)
second.join(30)
victim, survivor = (first, second) if first.error else (second, first)
err = victim.error
who = {first: "buyer 1", second: "buyer 2"}
print(f"{who[victim]} got SQLSTATE {err.sqlstate} ({type(err).__name__}) after waiting "
      f"{victim.t_end - victim.t_start:.2f} s; the cycle had been closed for {victim.t_end - second.t_start:.2f} s; "
      f"{who[survivor]} got its row {survivor.t_end - second.t_start:.2f} s after the cycle closed.\n")
print("PostgreSQL's error, as it reports it:\n")
print(f"ERROR:  {err.diag.message_primary}\nDETAIL:  {err.diag.message_detail}\nHINT:  {err.diag.message_hint}"
      f"\nCONTEXT:  {err.diag.context}")
assert err.sqlstate == "40P01"

# %%
survivor.conn.commit()                                # the survivor holds A and B: the whole basket
print(f"{who[survivor]} committed holding both rows; {who[victim]}'s transaction was rolled back whole: it "
      f"let go of {'A' if victim is first else 'B'} (this raw demo only locks rows; it reserves nothing)")
one.close()
two.close()

# %% [markdown]
# **Who is the victim?** PostgreSQL does not search for cycles on every wait (that would tax every lock wait
# for a rare event). A waiter sleeps; only once it has waited `deadlock_timeout` does it search the wait-for
# graph, and if the cycle runs through itself it aborts **its own** transaction. So the victim is usually
# the buyer that started waiting *first* (its timer runs out first), about `deadlock_timeout` after it began
# waiting, not after the cycle closed. PostgreSQL's `DETAIL` names both processes and what each waits for;
# the `CONTEXT` names the row (its `ctid`) in `stock`.
#
# ### The same two buyers in one order: A, then B
#
# Sorted, both buyers ask for A first. Buyer 1 takes A; buyer 2 asks for A and **waits** (it holds nothing);
# buyer 1 takes B (nobody holds it, nobody can: whoever wants B must hold A first), commits; buyer 2 gets A,
# then B. A queue, never a cycle.

# %%
A, B = stocked(1, "nb06-sorted")
one, two = session(), session()
names = {one.info.backend_pid: "buyer 1", two.info.backend_pid: "buyer 2"}
lock(one, A)                                          # buyer 1 holds A
second = Attempt(two, A)                              # buyer 2 asks for A first too: it waits, holding nothing
wait_for(lambda: blocked_by(two.info.backend_pid), 10, "buyer 2 waiting on A")
waits = {n: blocked_by(p) for p, n in names.items()}
lock(one, B)                                          # buyer 1 takes B at once: no one can hold B before A
one.commit()
second.join(30)
lock(two, B)
two.commit()
print(f"while buyer 2 waited: blocked_by = {waits} (one edge, no cycle)")
print(f"buyer 2 waited {second.t_end - second.t_start:.2f} s, then took A and B; errors: "
      f"{[t.error for t in (second,) if t.error] or 'none'}")
assert second.error is None
one.close()
two.close()

# %% [markdown]
# ## Through the inventory service: `POST /reservation-groups`
#
# The service reserves a basket with `POST /reservation-groups` (every line or none, one transaction; see the
# README's *Baskets* section). `lock_order` picks the order: `sorted` (default) or `request`, the control.
# Under the control a race names itself (`lock_race`, `lock_racers`) and each buyer holds its first line
# until both orders hold one, so the deadlock happens by construction, not by timing luck. Two buyers, one
# basket, opposite orders, each on its own connection, released by one barrier; `GET /stats` before and
# after:

# %%
def two_buyers_over_http(lock_order: str, strategy: str = "pessimistic", orders: tuple[str, str] | None = None) -> dict:
    """Buyer 1 asks A+B, buyer 2 B+A, released together. `orders`: each buyer's own lock_order (default: both
    `lock_order`); the control's barrier (lock_race) only when both lock in request order."""
    A, B = stocked(1, f"nb06-http-{lock_order}")
    orders = orders or (lock_order, lock_order)
    racers = 2 if orders == ("request", "request") else 0
    go, replies = threading.Barrier(2), {}

    def buyer(name: str, lines: list[str], order: str) -> None:
        with httpx.Client(base_url=INVENTORY, timeout=30) as c:
            c.get("/healthz")                                  # connected before the race starts
            go.wait()
            r = c.post("/reservation-groups", json={
                "lines": [{"sku": s, "qty": 1} for s in lines], "strategy": strategy, "lock_order": order,
                "attempt_id": f"{A}-{name}", "lock_race": A, "lock_racers": racers})
            replies[name] = {"asks": [s[-1] for s in lines], "status": r.status_code, "body": r.json()}

    threads = [threading.Thread(target=buyer, args=args)
               for args in (("buyer 1", [A, B], orders[0]), ("buyer 2", [B, A], orders[1]))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return replies


def deadlocks_total() -> int:
    return httpx.get(f"{INVENTORY}/stats").json()["deadlocks_total"]


for order in ("request", "sorted"):
    before = deadlocks_total()
    replies = two_buyers_over_http(order)
    print(f"### lock_order = {order}: GET /stats deadlocks_total {before} -> {deadlocks_total()}")
    for name, reply in sorted(replies.items()):
        body = reply["body"]
        if reply["status"] == 201:      # the group: its id and lines, shortened
            body = {"state": body["state"], "lock_order": body["lock_order"],
                    "lines": [(ln["sku"][-1], ln["warehouse"], ln["state"]) for ln in body["lines"]]}
        print(f"{name} asks {'+'.join(reply['asks'])}: HTTP {reply['status']} {json.dumps(body)}")
    print()
    statuses = sorted(r["status"] for r in replies.values())
    assert statuses == ([201, 503] if order == "request" else [201, 409]), replies

# %% [markdown]
# Under `request` one buyer gets the basket (`201`, both lines held) and the other `503 deadlock`,
# `"retryable": true`: nothing held, retrying with the same `attempt_id` is safe. The service records each
# deadlock after the rollback, in a transaction of its own (so the count survives the abort it counts), and
# `GET /stats` reports it. Under `sorted` the loser hears the ordinary `409 out_of_stock`, at once.
#
# ## A crowd on one basket, both orders, every strategy
#
# `lastunit race --lines 2` does the same at scale: `BUYERS` buyers, even ones asking A, B and odd ones B, A,
# all released together on `SETS` unit(s) of each, then the auditor. The same crowd under both lock orders,
# for each strategy that can reserve a basket (`naive`, `redis` and `batched` refuse baskets: README,
# *Baskets*):

# %%
def basket_race(strategy: str, order: str, buyers: int = BUYERS, sets: int = SETS) -> dict:
    sc = load("last_unit_race", [f"inventory.strategy={strategy}", f"inventory.lock_order={order}", "load.lines=2",
                                 f"load.buyers={buyers}", f"catalog.hot_stock={sets}"])
    return race_one(sc, "real", Progress(enabled=False), plot=False)


t0 = time.monotonic()
rows = [basket_race(s, o) for s in STRATEGIES for o in ("sorted", "request")]
crowd = pd.DataFrame(rows)
crowd["failed (503)"] = crowd.failed
print(f"{len(rows)} races of {BUYERS} buyers in {time.monotonic() - t0:.0f} s")
crowd[["strategy", "lock_order", "won", "out_of_stock", "failed (503)", "deadlocks", "retries", "p50_ms", "p99_ms",
       "wall_s", "oversold_units", "partial_groups"]].set_index(["strategy", "lock_order"])

# %%
lat = pd.concat([read_run(r["run_dir"])[0].assign(strategy=r["strategy"], lock_order=r["lock_order"]) for r in rows])
lat["latency_s"] = lat.t_end - lat.t_start
timeout_s = 1.0          # the service's sessions run with PostgreSQL's default deadlock_timeout

fig = Figure(figsize=(13, 4), layout="constrained")
ax_out, ax_dl, ax_lat = fig.subplots(1, 3)
labels = [f"{s}, {o}" for s, o in zip(crowd.strategy, crowd.lock_order, strict=True)]
left = pd.Series(0, index=crowd.index)
for col, color, label in (("won", "#2a9d8f", "won (both lines)"), ("out_of_stock", "#8ab6d6", "409 out_of_stock"),
                          ("failed", "#e76f51", "503 deadlock")):
    ax_out.barh(labels, crowd[col], left=left, color=color, label=label)
    left += crowd[col]
ax_out.invert_yaxis()
ax_out.set(xlabel="buyers", title=f"answers to {BUYERS} buyers, {SETS} basket(s) in stock")
ax_out.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
bars = crowd.pivot(index="strategy", columns="lock_order", values="deadlocks").reindex(STRATEGIES)[["sorted", "request"]]
bars.plot.bar(ax=ax_dl, rot=0, color={"sorted": "#2a9d8f", "request": "#e76f51"})
for container in ax_dl.containers:
    ax_dl.bar_label(container, fontsize=8)
ax_dl.set(ylabel="deadlocks PostgreSQL broke (40P01)", xlabel="", title="deadlocks per race")
for order, color in (("sorted", "#2a9d8f"), ("request", "#e76f51")):
    for i, (_strategy, part) in enumerate(lat[lat.lock_order == order].groupby("strategy")):
        x = part.latency_s.sort_values().to_numpy()
        ax_lat.step(x, [(k + 1) / len(x) for k in range(len(x))], where="post", color=color, alpha=0.8,
                    label=order if i == 0 else None)
for k in range(1, int(lat.latency_s.max() / timeout_s) + 1):
    ax_lat.axvline(k * timeout_s, color="#999", ls=":", lw=1)
ax_lat.set(xlim=(0, None), xlabel="latency per buyer (s); dotted: multiples of deadlock_timeout",
           ylabel="share of buyers answered", title="latency, one line per strategy")
ax_lat.legend(fontsize=8)
fig.suptitle(f"{BUYERS} buyers on one basket {{A, B}} in opposite orders, measured just now")
fig

# %% [markdown]
# **Reading it.** Under `sorted` every strategy gives the basket to exactly one buyer and tells the others
# `out_of_stock`, with **no deadlock**, everyone answered in a fraction of a second. (The retries of
# `guarded`, `optimistic` and `serializable` are misses, not deadlocks: the line's snapshot went stale while
# the buyer queued, so the whole basket rolled back and tried again, then found it sold.) Under `request` the crowd **chains** deadlocks: the first A holder and the first B holder
# deadlock; the victim's row goes to the next buyer of the opposite order, who deadlocks with the survivor
# again; each link costs one `deadlock_timeout` (the steps at the dotted lines), and many buyers end as
# victims (`503 deadlock`) rather than `out_of_stock`. Still at most one basket per set is sold. How many
# deadlocks a crowd makes moves a lot from run to run (on this box, between about 10 and 40 for 40 buyers):
# read the shape, not the digits.
#
# ### The audit: nothing oversold, no half-held basket
#
# Each race ends with the auditor over its SKUs (`reference_impl/audit/inventory.py`): stock conserved and
# not oversold, and `scenarios/invariants.py: check_groups`, which counts **partially reserved groups**: a
# basket with some lines held (or sold) and others not, or a promised line missing. Its control (a line given
# back behind the service's back, `tests/integration/test_reservation_groups.py`) shows it can fail.

# %%
audit = crowd[["strategy", "lock_order", "audit_ok", "oversold_units", "partial_groups", "deadlocks"]].copy()
audit["groups_checked"] = [read_run(r["run_dir"])[2]["groups_checked"] for r in rows]
assert (audit.oversold_units == 0).all() and (audit.partial_groups == 0).all() and audit.audit_ok.all()
assert (crowd[crowd.lock_order == "sorted"].deadlocks == 0).all(), "sorted order must never deadlock"
assert (crowd[crowd.lock_order == "request"].deadlocks > 0).all(), "the control must deadlock, or it proves nothing"
assert (crowd.won <= SETS).all()
print("every race: audit ok, nothing oversold, no basket half held; deadlocks only under request order")
audit.set_index(["strategy", "lock_order"])

# %% [markdown]
# ## The model's prediction beside it
#
# `sim/basket.py` is the SimPy twin of the pessimistic basket: each stock row a lock held across the
# transaction's lines, the control's barrier, and PostgreSQL's detector as documented (a waiter that has
# waited `deadlock_timeout` searches the wait-for graph once and, closing a cycle, aborts itself). It runs
# in milliseconds. The same crowds, model against the real pessimistic race:

# %%
def model(buyers: int, order: str) -> dict:
    run = Baskets(2, SETS, buyers, LockOrder(order)).run()
    return {"buyers": buyers, "lock_order": order, "model won": run.count("won"),
            "model deadlocks": run.deadlocks, "model wall_s": round(run.wall_s, 2),
            "model audit ok": run.audit["ok"] and run.audit["partial_groups"] == 0}


real = {(BUYERS, r["lock_order"]): r for r in rows if r["strategy"] == "pessimistic"}   # measured above
real |= {(b, o): basket_race("pessimistic", o, buyers=b) for b in MODEL_BUYERS for o in ("sorted", "request")
         if (b, o) not in real}
beside = pd.DataFrame([model(b, o) | {"real won": real[(b, o)]["won"], "real deadlocks": real[(b, o)]["deadlocks"],
                                      "real wall_s": round(real[(b, o)]["wall_s"], 2)}
                       for b in MODEL_BUYERS for o in ("sorted", "request")])
beside.set_index(["buyers", "lock_order"])

# %%
fig = Figure(figsize=(6.5, 3.8), layout="constrained")
ax = fig.subplots()
req = beside[beside.lock_order == "request"]
srt = beside[beside.lock_order == "sorted"]
ax.plot(req.buyers, req["real deadlocks"], marker="s", color="#e76f51", label="measured, request order")
ax.plot(req.buyers, req["model deadlocks"], marker="o", ls="--", color="#e76f51", label="model, request order")
ax.plot(srt.buyers, srt["real deadlocks"], marker="s", color="#2a9d8f", label="measured, sorted order")
ax.plot(srt.buyers, srt["model deadlocks"], marker="o", ls="--", color="#2a9d8f", label="model, sorted order")
ax.set(xlabel="buyers on one basket {A, B} (pessimistic)", ylabel="deadlocks broken (40P01)",
       title="deadlocks: the model (sim/basket.py) against the real stack", xticks=MODEL_BUYERS)
ax.legend(fontsize=8)
fig

# %% [markdown]
# **Reading it.** Two buyers: the model matches exactly (one deadlock, one winner, one `deadlock_timeout` of
# wall time), and under `sorted` it never deadlocks, as measured. A crowd deadlocks **far more** in reality
# than in the model (one run each; the measured count moves between runs, the model's is fixed by its seed). The model's honest limit is the one thing it leaves out: **PostgreSQL's tuple-lock
# queue**. In the model a waiter waits only for the row's holder. In PostgreSQL the first waiter on a row
# takes the row's *tuple lock* (its place at the head of the queue) and waits for the holder's transaction;
# every later waiter queues on that tuple lock, i.e. **behind the first waiter**. So a buyer that holds no
# row at all, only a place in A's queue, is an edge in the wait-for graph, and cycles form through such
# waiters too: more cycles, more victims, longer chains. Three sessions on one row, live:

# %%
(A, _) = stocked(1, "nb06-queue")
s = [session() for _ in range(3)]
names = {c.info.backend_pid: f"session {i + 1}" for i, c in enumerate(s)}
lock(s[0], A)                                         # session 1 holds A's row
xids = {xid(s[0]): "session 1"}
queue = []
for c in s[1:]:                                       # sessions 2 and 3 ask for it, in that order
    queue.append(Attempt(c, A))
    wait_for(lambda c=c: blocked_by(c.info.backend_pid), 10, "a waiter on A")
graph = {n: [names[p] for p in blocked_by(pid)] for pid, n in names.items()}
print(f"blocked by: {graph}")
display(locks_of(names, xids, (A,)))
s[0].commit()
for t, c in zip(queue, s[1:], strict=True):          # each waiter in turn gets the row, then lets it go
    t.join(30)
    c.commit()
[c.close() for c in s]
assert graph["session 3"] == ["session 2"], "session 3 waits behind session 2, not only behind the holder"

# %% [markdown]
# Session 3 is blocked by **session 2**, which holds nothing but the tuple lock: that is the edge the model
# lacks. Adding it would mean modelling PostgreSQL's lock manager (the tuple lock, the transaction lock, the
# detector's rearranging of wait queues), which the lab has not done: the model is right about *whether*
# an order can deadlock and about the two-buyer case, and too low about how many victims a crowd makes.
#
# ## Exercises: change this, predict, then check
#
# Write your prediction down before you run anything.
#
# 1. **A shorter fuse.** In the *parameters* cell set `DEADLOCK_TIMEOUT = "200ms"` and run the two-session
#    cells again (from *Two sessions inside PostgreSQL*). Predict: how long does the victim wait before the
#    40P01 now, and is it still the same buyer? Why not set it to 1 ms in production (what would every
#    ordinary lock wait then pay)?
# 2. **More baskets in stock.** In the *parameters* cell set `SETS = 3` and run the crowd study again.
#    Predict for `sorted`: how many winners, how many `out_of_stock`, how many deadlocks? For `request`:
#    more or fewer deadlocks than with one set, and can it still sell 3? Which assertion would fail if a
#    strategy sold 4? Check in the table and in the audit.
# 3. **One path that does not keep the order.** The order only helps if *every* transaction keeps it (that is
#    why the service's `settle_group` and its sweeper lock in the same order). In the HTTP cell, after the
#    loop, add `two_buyers_over_http("sorted", orders=("sorted", "request"))`: buyer 1 sorts (A, B), buyer 2
#    locks in its request's order (B, A), with no barrier this time. Predict: can they deadlock? Always,
#    never, or sometimes? Run it five times and count the `503 deadlock` answers and `GET /stats`.
