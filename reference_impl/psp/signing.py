"""Webhook signatures: `Psp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

Pure, no I/O: the psp signs with it and the payment service verifies with it, so both sides agree by
construction. The timestamp is inside the MAC, so a captured webhook cannot be replayed later with a fresh
`t`; the tolerance bounds how long a captured one stays usable at all.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Psp-Signature"
SCHEME = "v1"
#: Five minutes, as Stripe: long enough for clock skew and a slow queue, short enough to bound replays.
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The webhook is not provably from the psp: answer 400 and change nothing."""


class MalformedSignature(SignatureError):
    """The header cannot be parsed (missing, no t=, no v1=, t not an integer)."""


class ForgedSignature(SignatureError):
    """No v1 value matches the MAC of this body and timestamp under our secret."""


class StaleSignature(SignatureError):
    """The MAC is right but the timestamp is outside the tolerance: a replay, or a clock far off."""


def _mac(secret: str, timestamp: int, payload: bytes) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, payload: bytes) -> str:
    """The header value for `payload` (the exact bytes sent) at `timestamp`."""
    if not secret:
        raise ValueError("an empty webhook secret signs nothing")
    return f"t={int(timestamp)},{SCHEME}={_mac(secret, int(timestamp), payload)}"


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header or not isinstance(header, str):
        raise MalformedSignature("no signature header")
    stamp, macs = None, []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature(f"signature part {part.strip()!r} is not key=value")
        if key == "t":
            if not value.isascii() or not value.isdigit():
                raise MalformedSignature(f"signature timestamp {value!r} is not unix seconds")
            stamp = int(value)
        elif key == SCHEME:
            macs.append(value)
    if stamp is None:
        raise MalformedSignature("signature header has no t=")
    if not macs:
        raise MalformedSignature(f"signature header has no {SCHEME}=")
    return stamp, macs


def verify(secret: str, header: str | None, payload: bytes, now: float | None = None,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:
    """Return None if `header` signs `payload` under `secret` within the tolerance; raise SignatureError else.

    The MAC is checked before the age, so a forged header is reported as forged, not as stale.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    stamp, macs = _parse(header)
    want = _mac(secret, stamp, payload)
    if not any(hmac.compare_digest(want, m) for m in macs):
        raise ForgedSignature("signature does not match the payload")
    now = time.time() if now is None else now
    if abs(now - stamp) > tolerance_s:
        raise StaleSignature(f"signature timestamp is {now - stamp:.0f} s from now (tolerance {tolerance_s} s)")
