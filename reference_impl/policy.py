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

# -- inventory ---------------------------------------------------------------------------------------
#: A hot row is served best by few concurrent transactions: a pool of 4 beat 16 by half under 64 clients.
INVENTORY_POOL_SIZE = int(os.environ.get("LAB_INVENTORY_POOL", "16"))
#: Held reservations go back to stock at their TTL (the sweeper sleeps until the earliest one), but a
#: sweep follows the last one by at least this much, so a run of expiries is one statement, not many.
SWEEP_INTERVAL_S = 1.0

# -- between services --------------------------------------------------------------------------------
#: A service call that takes longer than this is a lost reply as far as the caller is concerned.
CALL_TIMEOUT_S = 2.0
#: An entry on the bus unacked this long belongs to a consumer that probably died: another one takes it.
RECLAIM_IDLE_MS = 3000
#: How often each consumer looks for such entries (XAUTOCLAIM on a timer, not on every read): an entry is
#: taken over between RECLAIM_IDLE_MS and RECLAIM_IDLE_MS + this after its delivery.
RECLAIM_EVERY_S = RECLAIM_IDLE_MS / 2000

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
RETENTION_S = max(MIN_RETENTION_S, float(os.environ.get("LAB_RETENTION_S", "3600")))
#: Pruning runs this often: a quarter of the retention, at most a minute apart.
PRUNE_EVERY_S = min(60.0, RETENTION_S / 4)

# -- the provider's webhooks -------------------------------------------------------------------------
#: Retry n waits WEBHOOK_BACKOFF_BASE_S * 2**n, at most WEBHOOK_BACKOFF_CAP_S: quick enough for tests to
#: watch retries, and a receiver that is down for minutes is still tried every 10 s rather than hammered.
WEBHOOK_BACKOFF_BASE_S = 0.1
WEBHOOK_BACKOFF_CAP_S = 10.0


def webhook_backoff_s(attempts_before: int) -> float:
    return min(WEBHOOK_BACKOFF_CAP_S, WEBHOOK_BACKOFF_BASE_S * 2 ** min(attempts_before, 30))
