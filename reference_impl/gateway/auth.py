"""Bearer tokens: JWTs (HS256, via PyJWT), so any gateway process verifies one without a lookup and any
client or tool that speaks JWT can read it.

The signing secret is made once per stack (random, in Redis under SECRET_KEY with SET NX, so every gateway
process and restart agrees on it) and never written in code. A token is minted only for a user who proved
who they are (login.py: a password checked against its scrypt hash).
"""

from __future__ import annotations

import re
import secrets
import time

import jwt

SECRET_KEY = "lab:gateway:token_secret"
#: Long enough for a swarm run, short enough that a leaked token from yesterday is useless.
TOKEN_TTL_S = 3600
ALGORITHM = "HS256"
ISSUER = "lastunit-gateway"
USER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class BadToken(ValueError):
    pass


async def load_secret(redis) -> bytes:
    await redis.set(SECRET_KEY, secrets.token_hex(32), nx=True)
    value = await redis.get(SECRET_KEY)
    return value if isinstance(value, bytes) else value.encode()


def issue(secret: bytes, user_id: str, now: float | None = None) -> tuple[str, int]:
    iat = int(now or time.time())
    exp = iat + TOKEN_TTL_S
    claims = {"sub": user_id, "iat": iat, "exp": exp, "iss": ISSUER}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), exp


def verify(secret: bytes, token: str) -> str:
    """The token's user id, or BadToken saying why not. Only HS256 is accepted (never `none`, never a key
    confusion), and `sub`, `exp` and our issuer are required."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat", "iss"]})
    except jwt.ExpiredSignatureError:
        raise BadToken("token expired") from None
    except jwt.InvalidSignatureError:
        raise BadToken("bad signature") from None
    except jwt.InvalidTokenError:
        raise BadToken("malformed token") from None
    user = claims["sub"]
    if not isinstance(user, str) or not USER_ID.match(user):
        raise BadToken("malformed token")
    return user
