"""Where the batch's output lives in Redis, and how a new batch replaces the old one atomically.

Each batch writes its lists under its own id, then one write of the meta hash points readers at it; the old
batch's keys expire a while later (readers mid-request finish on it). Readers never see half a batch.
"""

from __future__ import annotations

import json
import time
import uuid

META = "lab:recs:meta"
#: How long a replaced batch stays readable: longer than any request, shorter than a build.
OLD_BATCH_TTL_S = 600
#: Recent clicks kept per user, and how long they count as "recent".
CLICKS_KEPT = 10
CLICKS_TTL_S = 3600
WRITE_CHUNK = 2000


def list_key(batch: str, sku: str) -> str:
    return f"lab:recs:{batch}:{sku}"


def clicks_key(user_id: str) -> str:
    return f"lab:recs:clicks:{user_id}"


def publish(r, lists: dict[str, list[tuple[str, int]]], orders: int) -> dict:
    """Write a batch (sync redis client) and switch readers to it. Returns its meta."""
    batch = uuid.uuid4().hex[:12]
    items = list(lists.items())
    for i in range(0, len(items), WRITE_CHUNK):
        pipe = r.pipeline(transaction=False)
        for sku, partners in items[i:i + WRITE_CHUNK]:
            pipe.set(list_key(batch, sku), json.dumps(partners))
        pipe.execute()
    old = r.hget(META, "batch")
    meta = {"batch": batch, "built_at": time.time(), "orders": orders, "skus": len(lists),
            "pairs": sum(len(p) for p in lists.values())}
    r.hset(META, mapping={k: str(v) for k, v in meta.items()})
    if old:
        _expire_batch(r, old.decode() if isinstance(old, bytes) else old)
    return meta


def _expire_batch(r, batch: str) -> None:
    pipe = r.pipeline(transaction=False)
    for k in r.scan_iter(match=list_key(batch, "*"), count=5000):
        pipe.expire(k, OLD_BATCH_TTL_S)
    pipe.execute()


def decode_meta(raw: dict) -> dict:
    meta = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}
    if not meta:
        return {}
    return {"batch": meta["batch"], "built_at": float(meta["built_at"]), "orders": int(meta["orders"]),
            "skus": int(meta["skus"]), "pairs": int(meta["pairs"]), "age_s": round(time.time() -
                                                                                     float(meta["built_at"]), 3)}
