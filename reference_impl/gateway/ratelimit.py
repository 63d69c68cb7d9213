"""A per-client token bucket in Redis: one atomic script, so every gateway process shares each bucket.

A token bucket (not a fixed window) lets a client burst briefly, as browsers do, while capping its
sustained rate; the script reads Redis's own clock so gateway processes with skewed clocks still agree.
"""

from __future__ import annotations

import os

#: Sustained requests per second per client, and the burst it may save up. A swarm's user is one client,
#: so the defaults sit well above what one simulated shopper does and well below what a runaway loop does.
RATE_PER_S, BURST = 50.0, 100.0
#: Clients without a token are keyed by IP, and a whole swarm on one machine is one IP: their bucket is
#: wider (a swarm's users should log in once and carry a token, which gives each its own bucket).
ANON_RATE_PER_S, ANON_BURST = 1000.0, 2000.0

#: Token minting per IP: each login costs ~0.1 s of CPU (scrypt) and is a password guess, so one address gets
#: 10 a second with a burst of 50 (a swarm of 200 users on one machine logs in within ~15 s, retrying on
#: 429 as told by Retry-After); a guessing loop gets 10 guesses a second and cannot take the gateway's core.
LOGIN_RATE_PER_S, LOGIN_BURST = 10.0, 50.0

LUA = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1]) or burst
local ts = tonumber(s[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local ok, wait = 0, 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {ok, tostring(wait)}
"""


class Limiter:
    def __init__(self, redis):
        self.script = redis.register_script(LUA)
        env = os.environ.get
        self.user = (float(env("LAB_GATEWAY_RATE", RATE_PER_S)), float(env("LAB_GATEWAY_BURST", BURST)))
        self.anon = (float(env("LAB_GATEWAY_ANON_RATE", ANON_RATE_PER_S)),
                     float(env("LAB_GATEWAY_ANON_BURST", ANON_BURST)))
        self.login = (float(env("LAB_GATEWAY_LOGIN_RATE", LOGIN_RATE_PER_S)),
                      float(env("LAB_GATEWAY_LOGIN_BURST", LOGIN_BURST)))

    async def take_login(self, ip: str) -> tuple[bool, float]:
        """One login attempt from `ip` (its own bucket, beside the per-request one)."""
        ok, wait = await self.script(keys=[f"lab:gateway:rl:login:{ip}"], args=list(self.login))
        return bool(ok), float(wait)

    async def take(self, client: str, anonymous: bool) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        rate, burst = self.anon if anonymous else self.user
        ok, wait = await self.script(keys=[f"lab:gateway:rl:{client}"], args=[rate, burst])
        return bool(ok), float(wait)
