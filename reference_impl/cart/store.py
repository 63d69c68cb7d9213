"""The cart's two copies and how they stay in step.

PostgreSQL is the durable copy (a cart outlives its Redis session: "saved carts"); Redis is the session copy
every read hits first, expiring after SESSION_TTL_S idle. Each change bumps a per-user version under the
cart row's lock, then replaces the Redis copy through a script that refuses an older version: two changes
racing to Redis cannot leave the older one there, and a read that refills Redis from PostgreSQL cannot
overwrite a newer change either.
"""

from __future__ import annotations

from importlib import resources

import aiosql

Q = aiosql.from_path(str(resources.files("reference_impl.cart") / "sql"), "asyncpg", mandatory_parameters=False)

#: A shopping session's idle life: the Redis copy goes, the PostgreSQL copy stays (a saved cart).
SESSION_TTL_S = 2 * 3600
VERSION_FIELD = "_v"

REPLACE_IF_NEWER = """
local cur = tonumber(redis.call('HGET', KEYS[1], '_v') or '-1')
if cur >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '_v', ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def key(user_id: str) -> str:
    return f"lab:cart:{user_id}"


class CartStore:
    def __init__(self, pool, redis):
        self.pool, self.redis = pool, redis
        self.replace = redis.register_script(REPLACE_IF_NEWER)

    async def _publish(self, user_id: str, version: int, lines: list[dict]) -> None:
        args = [version, SESSION_TTL_S] + [x for ln in lines for x in (ln["sku"], ln["qty"])]
        await self.replace(keys=[key(user_id)], args=args)

    async def change(self, user_id: str, edit) -> list[dict]:
        """Run `edit(conn)` inside the versioned transaction; publish the new cart to Redis."""
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                version = await Q.bump_version(conn, user_id=user_id)
                await edit(conn)
                lines = [dict(r) async for r in Q.lines_of(conn, user_id=user_id, list="cart")]
        await self._publish(user_id, version, lines)
        return lines

    async def read(self, user_id: str) -> tuple[list[dict], list[dict], str]:
        """(cart lines, saved-for-later lines, where the cart came from: redis or postgres)."""
        raw = await self.redis.hgetall(key(user_id))
        saved = await self._lines(user_id, "saved")
        if raw:
            await self.redis.expire(key(user_id), SESSION_TTL_S)      # sliding session
            lines = [{"sku": k.decode(), "qty": int(v)} for k, v in raw.items() if k.decode() != VERSION_FIELD]
            return sorted(lines, key=lambda ln: ln["sku"]), saved, "redis"
        async with self.pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read"):   # version and lines from one snapshot
                version = await Q.cart_version(conn, user_id=user_id)
                lines = [dict(r) async for r in Q.lines_of(conn, user_id=user_id, list="cart")]
        if version is not None:
            await self._publish(user_id, version, lines)
        return sorted(lines, key=lambda ln: ln["sku"]), saved, "postgres"

    async def _lines(self, user_id: str, list_: str) -> list[dict]:
        async with self.pool.acquire() as conn:
            return [dict(r) async for r in Q.lines_of(conn, user_id=user_id, list=list_)]
