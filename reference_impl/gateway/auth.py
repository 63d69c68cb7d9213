"""Bearer tokens: HMAC-signed, so any gateway process verifies one without a lookup.

The signing secret is made once per stack (random, in Redis under SECRET_KEY with SET NX, so every gateway
process and restart agrees on it) and never written in code. `POST /auth/token` trusts the user id it is
given: the lab models who may touch which cart and order, not how people prove who they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

SECRET_KEY = "lab:gateway:token_secret"
#: Long enough for a swarm run, short enough that a leaked token from yesterday is useless.
TOKEN_TTL_S = 3600
USER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class BadToken(ValueError):
    pass


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def load_secret(redis) -> bytes:
    await redis.set(SECRET_KEY, secrets.token_hex(32), nx=True)
    value = await redis.get(SECRET_KEY)
    return value if isinstance(value, bytes) else value.encode()


def issue(secret: bytes, user_id: str, now: float | None = None) -> tuple[str, int]:
    exp = int((now or time.time()) + TOKEN_TTL_S)
    payload = f"{_b64(user_id.encode())}.{exp}"
    sig = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return f"v1.{payload}.{_b64(sig)}", exp


def verify(secret: bytes, token: str, now: float | None = None) -> str:
    """The token's user id, or BadToken saying why not."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "v1":
        raise BadToken("malformed token")
    payload = f"{parts[1]}.{parts[2]}"
    want = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    try:
        good = hmac.compare_digest(want, _unb64(parts[3]))
        user_id, exp = _unb64(parts[1]).decode(), int(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise BadToken("malformed token") from None
    if not good:
        raise BadToken("bad signature")
    if exp < (now or time.time()):
        raise BadToken("token expired")
    return user_id
