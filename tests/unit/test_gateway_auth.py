"""Login's pure parts: scrypt hashes that verify only the right password, and JWTs that verify only when
signed with the stack's secret by HS256, unexpired, from our issuer."""

from __future__ import annotations

import time

import jwt
import pytest

from reference_impl.gateway import auth
from reference_impl.gateway.passwords import DUMMY_HASH, hash_password, verify_password

SECRET = b"s" * 64


def test_a_hash_verifies_its_password_only():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$16384$8$1$") and "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert hash_password("correct horse") != stored                 # salted: the same password, another hash


@pytest.mark.parametrize("stored", [None, DUMMY_HASH, "", "md5$x", "scrypt$1$2$3$bad"])
def test_no_user_or_a_broken_hash_never_verifies(stored):
    assert not verify_password("anything", stored)


def test_a_token_carries_its_user():
    token, exp = auth.issue(SECRET, "alice")
    assert auth.verify(SECRET, token) == "alice" and exp > time.time()
    assert jwt.decode(token, SECRET, algorithms=["HS256"], issuer=auth.ISSUER)["sub"] == "alice"


@pytest.mark.parametrize(("make", "why"), [
    (lambda: auth.issue(SECRET, "alice", now=time.time() - auth.TOKEN_TTL_S - 5)[0], "token expired"),
    (lambda: auth.issue(b"another stack's secret" * 4, "alice")[0], "bad signature"),
    (lambda: jwt.encode({"sub": "alice", "exp": 2**31, "iat": 0, "iss": auth.ISSUER}, None, algorithm="none"),
     "malformed token"),
    (lambda: jwt.encode({"sub": "alice", "exp": 2**31, "iat": 0, "iss": "someone-else"}, SECRET,
                        algorithm="HS256"), "malformed token"),
    (lambda: jwt.encode({"exp": 2**31, "iat": 0, "iss": auth.ISSUER}, SECRET, algorithm="HS256"),
     "malformed token"),
    (lambda: "v1.YWxpY2U.9999999999.sig", "malformed token"),
])
def test_a_bad_token_is_refused_with_the_reason(make, why):
    with pytest.raises(auth.BadToken, match=why):
        auth.verify(SECRET, make())
