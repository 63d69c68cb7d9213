"""The six strategies as SimPy generators: the model half of reference_impl/inventory/reserve.py.

Covers: row locks as capacity-1 Resources, lock-wait timeouts (`req | env.timeout`), compare-and-set,
    first-updater-wins aborts, bounded retries with full-jitter backoff (redis: sim/redis_lua.py).
Scenario: one buyer holding a pooled connection tries one warehouse row. Each generator returns
    (reserved?, retries) or raises Starved, exactly where the real function does. A row's counters change
    at the writer's commit instant; a reader without the lock sees the last committed values.
"""

from __future__ import annotations

from scenarios.strategies import LOCK_TIMEOUT_MS, MAX_RETRIES, NAIVE_BARRIER_MAX_S, Starved, Strategy
from sim.redis_lua import redis
from sim.rowlock import commit, granted

LOCK_TIMEOUT_S = LOCK_TIMEOUT_MS / 1000



def naive(shop, row, qty):
    """read_counter, check, sleep the window, write_back_counter, insert_reservation: all autocommit.
    In a race the window also lasts until the race's readers (at most the pool) have all read, bounded,
    as reference_impl/inventory/naive_barrier.py makes the real one do."""
    env = shop.env
    yield from shop.send()
    available, reserved = row.available(), row.reserved     # what the read returns
    yield shop.wait(shop.stmt_s)
    if available < qty:
        return False, 0
    arrived = shop.naive_arrive()                            # a race's barrier: counted in after the read
    yield env.timeout(shop.naive_window_s)                  # asyncio.sleep: no CPU, no connection freed
    if arrived is not None and not arrived.triggered:       # the window lasts until every reader has read
        yield arrived | env.timeout(max(0.0, NAIVE_BARRIER_MAX_S - shop.naive_window_s))
    yield from shop.send()
    with row.lock.request() as req:                          # the UPDATE takes the row lock briefly
        if not req.triggered:
            yield from granted(shop, row, req)
        yield shop.wait(shop.stmt_s + shop.commit_s)        # autocommit: one round trip
        row.reserved = reserved + qty                        # the lost update: computed from a stale read
        row.writes += 1
    yield from shop.db(shop.stmt_s + shop.commit_s, 1)
    shop.stock.promise(row, qty, shop.strategy_name)         # recorded although the counter may be wrong
    return True, 0


def pessimistic(shop, row, qty):
    """BEGIN; SET LOCAL lock_timeout; SELECT ... FOR UPDATE; check; increment; insert; COMMIT.

    The statements after the lock are separate awaits: each queues on the service loop while the lock is
    held (`shop.each`), which is what makes the lock's holding time grow with the crowd.
    """
    env = shop.env
    yield from shop.db(2 * shop.rtt_s, 2)                   # BEGIN; SET LOCAL lock_timeout
    yield from shop.send()                                   # SELECT ... FOR UPDATE
    with row.lock.request() as req:
        if not req.triggered:
            t0 = env.now
            yield req | env.timeout(LOCK_TIMEOUT_S)
            if not req.triggered:                            # 55P03 lock_not_available
                shop.counters["lock_timeouts"] += 1
                raise Starved(0, "lock_timeout")
            shop.waited_for_lock(env.now - t0)
        yield shop.wait(shop.stmt_s)
        if row.available() < qty:
            yield from shop.db(shop.commit_s, 1)
            return False, 0
        yield from shop.each(2 * shop.stmt_s + shop.commit_s, 3)   # UPDATE; INSERT; COMMIT
        commit(shop, row, qty)
    return True, 0


def optimistic(shop, row, qty):
    """read_counter; BEGIN; UPDATE ... WHERE version = read version; on a miss back off and re-read."""
    env = shop.env
    for attempt in range(MAX_RETRIES + 1):
        yield from shop.send()                               # read_counter
        available, version = row.available(), row.version
        if available < qty:
            yield shop.wait(shop.stmt_s)
            return False, attempt
        yield from shop.send()                               # BEGIN (its CPU lumped with the read's)
        yield shop.wait(shop.stmt_s + shop.rtt_s)
        yield from shop.send()                               # the UPDATE ... WHERE version
        if row.version == version:     # else the UPDATE's snapshot already fails the WHERE: no lock, no row
            with row.lock.request() as req:
                if not req.triggered:
                    yield from granted(shop, row, req)
                if row.version == version:                   # re-checked on the newest row version
                    yield shop.wait(shop.stmt_s)
                    yield from shop.each(shop.stmt_s + shop.commit_s, 2)   # INSERT; COMMIT
                    row.version += 1
                    commit(shop, row, qty)
                    return True, attempt
        shop.counters["cas_misses"] += 1
        yield shop.wait(shop.stmt_s)
        yield from shop.db(shop.commit_s, 1)                 # ROLLBACK
        yield env.timeout(shop.backoff(attempt))
    raise Starved(MAX_RETRIES)


def guarded(shop, row, qty):
    """One UPDATE ... WHERE on_hand - reserved >= qty (plus the reservation insert), autocommit."""
    yield from shop.send()
    if row.available() >= qty:        # a snapshot row failing the WHERE is skipped without waiting
        with row.lock.request() as req:
            if not req.triggered:
                yield from granted(shop, row, req)
            if row.available() >= qty:                        # EvalPlanQual on the winner's row
                yield shop.wait(shop.stmt_s + shop.commit_s)  # autocommit: one round trip
                commit(shop, row, qty)
                return True, 0
    yield shop.wait(shop.stmt_s)
    return False, 0


def serializable(shop, row, qty):
    """BEGIN SERIALIZABLE; read; check; increment; insert; COMMIT; retry on 40001, bounded."""
    env = shop.env
    for attempt in range(MAX_RETRIES + 1):
        yield from shop.send(2)
        available, seen = row.available(), row.writes         # the snapshot (taken as the read starts)
        yield shop.wait(shop.rtt_s + shop.stmt_s)
        if available < qty:
            yield from shop.db(shop.commit_s, 1)
            return False, attempt
        yield from shop.send()                               # the UPDATE
        if row.writes == seen:
            with row.lock.request() as req:
                if not req.triggered:
                    yield from granted(shop, row, req)
                if row.writes == seen:                       # nobody committed a write since our snapshot
                    yield shop.wait(shop.stmt_s)
                    yield from shop.each(shop.stmt_s + shop.commit_s, 2)   # INSERT; COMMIT
                    commit(shop, row, qty)
                    return True, attempt
        shop.counters["aborts"] += 1                         # 40001: could not serialize access
        yield shop.wait(shop.stmt_s)
        yield from shop.db(shop.rtt_s, 1)                    # ROLLBACK
        yield env.timeout(shop.backoff(attempt))
    raise Starved(MAX_RETRIES)


ATTEMPT = {
    Strategy.NAIVE: naive,
    Strategy.PESSIMISTIC: pessimistic,
    Strategy.OPTIMISTIC: optimistic,
    Strategy.GUARDED: guarded,
    Strategy.SERIALIZABLE: serializable,
    Strategy.REDIS: redis,
}
