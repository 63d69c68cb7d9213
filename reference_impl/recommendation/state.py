"""What a build leaves for the next one, in Redis beside the batch: the full pair counts, the SKUs counted
per basket, and the watermark of the orders read (`merge.py` has the rule that uses them).

Each build changes the three in one MULTI/EXEC: a build that dies half way leaves the state of the build
before it, and the next build reads from that watermark again (rereading is harmless: see merge.py). If the
state is lost (a Redis without its files), the next build has no watermark and reads every paid order: the
counts come back, minus any history file's, which `recs build --history` puts back.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from reference_impl.recommendation.merge import Pair

PAIRS = "lab:recs:pairs"          # "A B" (A < B) -> baskets holding both
BASKETS = "lab:recs:baskets"      # basket -> its counted SKUs, space separated (SKUs never hold a space)
STATE = "lab:recs:state"          # watermark, history_orders, history
LOCK = "lab:recs:build-lock"
#: One build at a time (two would count the same new lines twice); the lock frees itself after this long
#: if its holder died. A build of 100,000 orders takes seconds: ten minutes is far beyond any.
LOCK_S = 600
#: Fields per Redis command when writing or reading many: one round trip each, none too big.
CHUNK = 5000


class BuildRunning(Exception):
    """Another build holds the lock."""


@contextmanager
def build_lock(r):
    lock = r.lock(LOCK, timeout=LOCK_S, blocking=False)
    if not lock.acquire():
        raise BuildRunning("another `recs build` is running (it frees its lock when done, or after "
                           f"{LOCK_S}s if it died)")
    try:
        yield
    finally:
        lock.release()


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


def read_state(r) -> dict:
    raw = {_s(k): _s(v) for k, v in r.hgetall(STATE).items()}
    return {"watermark": datetime.fromisoformat(raw["watermark"]) if raw.get("watermark") else None,
            "history_orders": int(raw.get("history_orders", 0)), "history": raw.get("history") or None,
            "baskets": r.hlen(BASKETS)}


def known_baskets(r, baskets: list[str]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for i in range(0, len(baskets), CHUNK):
        part = baskets[i:i + CHUNK]
        for basket, skus in zip(part, r.hmget(BASKETS, part), strict=True):
            if skus:
                out[basket] = frozenset(_s(skus).split(" "))
    return out


def read_counts(r) -> dict[Pair, int]:
    out: dict[Pair, int] = {}
    for field, n in r.hscan_iter(PAIRS, count=CHUNK):
        a, b = _s(field).split(" ")
        out[(a, b)] = int(n)
    return out


def apply(r, delta: dict[Pair, int], changed: dict[str, frozenset[str]], watermark: datetime) -> None:
    """Merge one build's deltas and move the watermark, all or nothing."""
    pipe = r.pipeline(transaction=True)
    for (a, b), n in delta.items():
        pipe.hincrby(PAIRS, f"{a} {b}", n)
    items = [(b, " ".join(sorted(s))) for b, s in changed.items()]
    for i in range(0, len(items), CHUNK):
        pipe.hset(BASKETS, mapping=dict(items[i:i + CHUNK]))
    pipe.hset(STATE, "watermark", watermark.isoformat())
    pipe.execute()


def replace(r, counts: dict[Pair, int], history: str, history_orders: int) -> None:
    """A history file's counts become the whole state; no watermark, so the next build from the orders
    database reads every paid order and adds them on top."""
    pipe = r.pipeline(transaction=True)
    pipe.delete(PAIRS, BASKETS, STATE)
    items = [(f"{a} {b}", n) for (a, b), n in counts.items()]
    for i in range(0, len(items), CHUNK):
        pipe.hset(PAIRS, mapping=dict(items[i:i + CHUNK]))
    pipe.hset(STATE, mapping={"history": history, "history_orders": history_orders})
    pipe.execute()


def reset(r) -> None:
    r.delete(PAIRS, BASKETS, STATE)
