"""Password hashing with scrypt from the standard library: memory-hard, so guessing costs memory as well as
CPU, and nothing beyond hashlib is needed.

Stored as `scrypt$n$r$p$<salt>$<hash>` (base64), so the cost can be raised later and old hashes still verify.
Hashing takes ~0.1 s of one core here on purpose: the login route runs it in a thread and is rate-limited per
IP (ratelimit.LOGIN_*), so a guessing loop cannot take a core either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: Percival's interactive-login setting (N=2^14, r=8: 16 MiB per hash, ~0.1 s here); p=1.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: OpenSSL's default memory cap (32 MiB) is exactly too small for 128*N*r plus overhead at these settings.
SCRYPT_MAXMEM = 64 * 1024 * 1024
SALT_BYTES, HASH_BYTES = 16, 32
#: Checked against when the user does not exist, so an unknown name costs the same time as a wrong password.
DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=HASH_BYTES)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches; a missing user (None) runs the same work against DUMMY_HASH."""
    try:
        scheme, n, r, p, salt, digest = (stored or DUMMY_HASH).split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest)) and stored is not None
