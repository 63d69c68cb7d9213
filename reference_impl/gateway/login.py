"""`POST /auth/token`: a password checked against its scrypt hash, then a JWT for that user.

Why here and not in app.py: the login's rules (one answer for an unknown user and a wrong password, the hash
in a thread so the event loop keeps serving, a per-IP budget for attempts) are logic, not HTTP.
"""

from __future__ import annotations

import asyncio
from importlib import resources

import aiosql

from reference_impl.gateway import auth
from reference_impl.gateway.passwords import verify_password
from reference_impl.infra.http import ApiError

Q = aiosql.from_path(str(resources.files("reference_impl.gateway") / "sql"), "asyncpg", mandatory_parameters=False)


class Throttled(Exception):
    """This IP spent its login budget; `wait` seconds until the next attempt is allowed."""

    def __init__(self, ip: str, wait: float):
        super().__init__(f"too many login attempts from {ip}: retry in {wait:.2f}s")
        self.wait = wait


async def login(app, user_id: str, password: str, ip: str) -> dict:
    allowed, wait = await app.state.limiter.take_login(ip)
    if not allowed:
        raise Throttled(ip, wait)
    async with app.state.pool.acquire() as conn:
        stored = await Q.password_hash(conn, user_id=user_id)
    if not await asyncio.to_thread(verify_password, password, stored):
        raise ApiError(401, "invalid_credentials", "unknown user or wrong password")
    token, exp = auth.issue(app.state.secret, user_id)
    return {"token": token, "user_id": user_id, "expires_at": exp, "token_type": "bearer"}
