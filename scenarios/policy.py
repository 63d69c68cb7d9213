"""The numbers the shop lives by: timeouts, leases, retry budgets, pool sizes, the unit price.

Why one import-light module: the services act on these numbers and the SimPy model must use the very
same ones (a model with its own copy drifts the day someone tunes a lease). Importing the services to
read them would load FastAPI, asyncpg and aiosql into every model run; this module imports nothing.
"""

from __future__ import annotations

import os

# -- orders ------------------------------------------------------------------------------------------
#: The live request's claim on its saga; recovery waits this long before it takes over.
ORDER_LEASE_S = 10.0
#: Retries of one lost call inside one drive; past this the saga waits for recovery.
CALL_RETRIES = 3
RETRY_PAUSE_S = 0.2
#: After this many drives without an answer the saga gives up and compensates, so nothing stays stranded.
MAX_DRIVES = 8
#: Recovery holds a saga only briefly: it drives in the background and nobody waits on it.
RECOVERY_LEASE_S = 3.0
#: Until the catalog prices SKUs for checkout, every unit costs this (cents).
DEFAULT_UNIT_PRICE = 1999
#: A lost reply from payment costs the caller this long before it retries with the same key.
PAYMENT_TIMEOUT_S = 2.0

# -- payment -----------------------------------------------------------------------------------------
#: A key locked longer than this belongs to a request that died; a retry or the completer may take it over.
#: Longer than one provider call's timeout, so a slow live request is not resumed twice at once.
AUTHORIZE_LOCK_TIMEOUT_S = 3.0
#: Our idempotency key at the provider is this prefix + the payment service's key (derived, never random).
PROVIDER_KEY_PREFIX = "lastunit-"
#: The longest Idempotency-Key the provider takes (Stripe's limit is 255; our fake's, like its schema, 200).
PROVIDER_KEY_MAX_LEN = 200
#: The longest key payment takes: it goes to the provider behind our prefix, so no more than the provider takes
#: after it. A longer key used to be accepted here and refused there, and then retried forever.
PAYMENT_KEY_MAX_LEN = PROVIDER_KEY_MAX_LEN - len(PROVIDER_KEY_PREFIX)
#: A client's checkout key at the gateway: a UUID is 36 characters; 128 leaves room for a prefix of its own.
CHECKOUT_KEY_MAX_LEN = 128
#: The longest SKU any service takes (the catalog's, inventory's and the cart's pattern agree on it).
SKU_MAX_LEN = 128
#: The longest key orders takes: a cart line's key is the client's key, ':' and the line's SKU.
ORDER_KEY_MAX_LEN = CHECKOUT_KEY_MAX_LEN + 1 + SKU_MAX_LEN
#: The completer retries a key the provider did not settle after PAYMENT_RETRY_BASE_S * 2**n (n tries so far),
#: at most PAYMENT_RETRY_CAP_S: a provider back within seconds is caught quickly, one away for an hour is
#: asked twice a minute instead of twice a second.
PAYMENT_RETRY_BASE_S = 0.5
PAYMENT_RETRY_CAP_S = 30.0

def payment_retry_s(tries: int) -> float:
    return min(PAYMENT_RETRY_CAP_S, PAYMENT_RETRY_BASE_S * 2 ** min(max(tries - 1, 0), 30))


# -- inventory ---------------------------------------------------------------------------------------
#: The inventory's connections, so at most this many transactions queue on a hot row's lock. A bare endpoint
#: once did half again better with 4 than with 16 under 64 clients; measured again through the service
#: (2026-11-30, 3 interleaved rounds, load ~6): guarded 1449 vs 1294 ops/s at 16 clients and 1126 vs 1193 at
#: 64, batched alike at both (a batch in flight uses one connection). Within the noise either way: 16 stays,
#: the number the model, the calibration and the naive control's test (won = min(buyers, pool)) are built on.
INVENTORY_POOL_SIZE = int(os.environ.get("LAB_INVENTORY_POOL", "16"))
#: Held reservations go back to stock at their TTL (the sweeper sleeps until the earliest one), but a
#: sweep follows the last one by at least this much, so a run of expiries is one statement, not many.
SWEEP_INTERVAL_S = 1.0
#: The batched strategy grants at most this many asks in one statement. The row lock is held while the
#: statement inserts the batch's reservations, and other strategies' writers wait that long; 512 bounds
#: that wait while a 10,000-buyer burst still needs only ~20 statements.
BATCH_MAX = 512
#: The sold-out memory forgets what it learned after this long even when no notification came. It bounds
#: how long a buyer can be refused while a unit stands available should a notification be lost in flight
#: (a dropped LISTEN connection clears the memory at once); normally a return is heard within milliseconds.
#: 0.5 s costs one database round trip per SKU and process every half second of a sold-out burst.
SOLD_OUT_MAX_AGE_S = 0.5
#: A sold-out entry carries the attempt ids that hold reservations on its SKU, so a retried winner is still
#: answered from the database with its reservation; a SKU with more than this many is not remembered.
SOLD_OUT_MAX_WINNERS = 10_000
#: Between a unit's return being committed and the memory hearing it: a batch statement in flight, the
#: notification's trip through a busy event loop (on this 2-core box at load 40, a loop took most of a
#: second to get to it), clocks read in different processes.
SOLD_OUT_SLACK_S = 1.0
#: The liveness bound the auditor checks: no buyer may be refused while a unit stood available longer.
SOLD_OUT_STALENESS_S = SOLD_OUT_MAX_AGE_S + SOLD_OUT_SLACK_S

# -- between services --------------------------------------------------------------------------------
#: A service call that takes longer than this is a lost reply as far as the caller is concerned.
CALL_TIMEOUT_S = 2.0
#: An entry on the bus unacked this long belongs to a consumer that probably died: another one takes it.
RECLAIM_IDLE_MS = 3000
#: How often each consumer looks for such entries (XAUTOCLAIM on a timer, not on every read): an entry is
#: taken over between RECLAIM_IDLE_MS and RECLAIM_IDLE_MS + this after its delivery.
RECLAIM_EVERY_S = RECLAIM_IDLE_MS / 2000
#: A consumer whose read failed (Redis restarting) pauses this long before it reads again; a handler that
#: fails pauses nothing (its entry stays pending and is reclaimed; the consumer's other lanes go on).
CONSUMER_PAUSE_S = 0.2

# -- background work ---------------------------------------------------------------------------------
#: Relays and lease workers sleep until told (NOTIFY, a blocking read, the earliest deadline they know of);
#: they still look this often, so a wake-up lost while a LISTEN connection was down costs at most this
#: delay. Idle cost: one small query per worker per period (well under 0.1% of a core for the stack).
IDLE_FALLBACK_S = 5.0
#: A round that leaves its own work due again at once (a provider still down, a lease someone else holds)
#: waits at least this long before the next: the pace of the old fixed-interval loops, never a spin.
RETRY_FLOOR_S = 0.5

# -- retention -----------------------------------------------------------------------------------------
#: How long the bus keeps what it has done, so a long-lived stack's tables stay bounded: published outbox
#: rows, processed-event ids, the provider's delivered webhooks and their attempts, the payment service's
#: seen webhook ids, and stream entries every consumer group has acked. Exactly-once holds for a redelivery
#: within it (reclaims come within seconds, webhook retries every WEBHOOK_BACKOFF_CAP_S at most); one that
#: came later would run its effect again. Sequence diagrams and post-mortems read the outboxes, so an hour.
#: `LAB_RETENTION_S` sets it (a soak uses 60); never below MIN_RETENTION_S.
MIN_RETENTION_S = 30.0
DEFAULT_RETENTION_S = 3600.0


def retention_s(value: str | None) -> float:
    """`LAB_RETENTION_S` as seconds (unset: an hour); a value that is not a number is refused by name."""
    if value is None or value == "":
        return DEFAULT_RETENTION_S
    try:
        return max(MIN_RETENTION_S, float(value))
    except ValueError:
        raise ValueError(f"LAB_RETENTION_S={value!r}: expected seconds, e.g. 60") from None


RETENTION_S = retention_s(os.environ.get("LAB_RETENTION_S"))
#: Pruning runs this often: a quarter of the retention, at most a minute apart.
PRUNE_EVERY_S = min(60.0, RETENTION_S / 4)

# -- every service's HTTP edge -----------------------------------------------------------------------
#: The largest request body any service reads. Our largest real body is a webhook event or a product (< 8 KiB);
#: 1 MiB leaves room for growth while a 100 MB body is refused before a byte of it is held in memory.
MAX_BODY_BYTES = 1 << 20
#: What a 503 for a database or Redis outage tells clients to wait: a restart of either takes about a second.
OUTAGE_RETRY_AFTER_S = 1

# -- the provider's webhooks -------------------------------------------------------------------------
#: Retry n waits WEBHOOK_BACKOFF_BASE_S * 2**n, at most WEBHOOK_BACKOFF_CAP_S: quick enough for tests to
#: watch retries, and a receiver that is down for minutes is still tried every 10 s rather than hammered.
WEBHOOK_BACKOFF_BASE_S = 0.1
WEBHOOK_BACKOFF_CAP_S = 10.0


def webhook_backoff_s(attempts_before: int) -> float:
    return min(WEBHOOK_BACKOFF_CAP_S, WEBHOOK_BACKOFF_BASE_S * 2 ** min(attempts_before, 30))

# -- the careful client (the run's driver, the swarm's users, and the model of both) -------------------
#: A checkout answer later than this is lost as far as the client knows; it retries with the same key.
CLIENT_TIMEOUT_S = 10.0
#: A careful client retries a lost answer with the same key this many times before calling it unknown.
CLIENT_RETRIES = 3
#: The client's pause before its n-th retry of a 202 / lost answer is n times this.
CLIENT_PAUSE_S = 0.5
#: A client whose retries still end unknown (lost replies, `202 pending`) polls its order like a browser's
#: status page, this often, for this long before it calls the attempt unknown. The patience outlasts the
#: saga's own worst case before it compensates (recovery takes over after ORDER_LEASE_S and gives up after
#: MAX_DRIVES drives of up to RECOVERY_LEASE_S each: 34 s), so every order that settles is seen final.
STATUS_POLL_S = 1.0
PENDING_PATIENCE_S = 60.0
#: A server's Retry-After (an outage answered 503) is honoured up to this; past it the client's own pause
#: decides, so one long hint cannot spend the client's whole patience on one retry.
MAX_RETRY_AFTER_S = 2.0
