"""The redis strategy: reserve.lua decides on Redis's single thread, PostgreSQL records the grant.

Covers: a capacity-1 server Resource (Redis runs one script at a time), a lazily loaded mirror.
Scenario: a buyer sends the Lua check-and-increment; when the mirror is not loaded yet (-1), it reads the
    counters from PostgreSQL, HSETNXes them (the first loader's values stand) and sends the script again.
    A granted unit is then recorded in PostgreSQL (record_redis_grant) under the row lock.
"""

from __future__ import annotations

from sim import rowlock


def _redis_call(shop, action):
    """One Redis command: a round trip, then `action()` run alone on Redis's single thread."""
    yield from shop.db(shop.rtt_s)
    with shop.redis.request() as req:
        if not req.triggered:
            yield req
        yield shop.env.timeout(shop.redis_s * shop.jitter())
        return action()


def redis(shop, row, qty):
    """reserve.lua in Redis decides (loading the mirror from PostgreSQL once); record_redis_grant records."""
    def script():
        m = row.mirror
        if m is None:
            return -1
        if m[0] - m[1] < qty:
            return 0
        m[1] += qty
        return 1

    answer = yield from _redis_call(shop, script)
    if answer == -1:
        shop.counters["mirror_loads"] += 1
        loaded = [row.on_hand, row.reserved]
        yield from shop.db(shop.stmt_s)                       # read_counter

        def hsetnx():
            if row.mirror is None:                            # of several loaders, the first one stands
                row.mirror = loaded
        yield from _redis_call(shop, hsetnx)
        answer = yield from _redis_call(shop, script)
    if answer != 1:
        return False, 0
    yield from shop.send()                                    # record_redis_grant, autocommit
    with row.lock.request() as req:
        if not req.triggered:
            yield from rowlock.granted(shop, row, req)
        yield shop.wait(shop.stmt_s + shop.commit_s)
        rowlock.commit(shop, row, qty)
    return True, 0
