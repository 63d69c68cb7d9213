"""`lastunit recs build`: purchases -> co-occurrence counts -> top lists in Redis, as one batch.

Two sources, one set of counts (state.py):
- the orders database (the default): the lines of paid orders since the last build, merged into the counts
  the builds before made (merge.py has the rule); a first build, or one after `--full`, reads them all.
- a history file (`--history`, and `lastunit seed`'s synthetic one): a table of order lines (order_id,
  sku), Parquet or CSV. It replaces the counts wholesale and clears the watermark, so the next build from
  the orders database adds every paid order on top of it: a seeded shop starts with "also bought" and its
  own purchases add to it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import redis

from reference_impl.recommendation import orders_source, state, store
from reference_impl.recommendation.cooccur import TOP_K, pair_counts
from reference_impl.recommendation.merge import merge, top_partners
from scenarios.paths import lab_home


class NoOrders(Exception):
    """Nothing to build from: no paid order yet and no history built before."""


def default_history() -> Path:
    return lab_home() / "seed" / "order_history.parquet"


def read_history(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"no order history at {path}: run `lastunit seed` or pass --history")
    df = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    missing = {"order_id", "sku"} - set(df.columns)
    if missing:
        raise ValueError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
    return df.astype({"order_id": str, "sku": str})


def _publish(r, top_k: int) -> dict:
    st = state.read_state(r)
    return store.publish(r, top_partners(state.read_counts(r), top_k),
                         orders=st["history_orders"] + st["baskets"])


def build(redis_url: str, history: pd.DataFrame, top_k: int = TOP_K, source: str = "history") -> dict:
    """The history's counts replace the state; publish them."""
    t0 = time.perf_counter()
    counts = pair_counts(history)
    r = redis.from_url(redis_url)
    try:
        with state.build_lock(r):
            state.replace(r, counts, source, int(history["order_id"].nunique()))
            meta = _publish(r, top_k)
    finally:
        r.close()
    return meta | {"source": source, "seconds": round(time.perf_counter() - t0, 3)}


def build_from_orders(redis_url: str, pg_url: str, top_k: int = TOP_K, full: bool = False) -> dict:
    """Merge the paid orders since the watermark into the counts; publish when they changed (or no batch is
    up). `full`: forget the state first and read every paid order."""
    t0 = time.perf_counter()
    r = redis.from_url(redis_url)
    try:
        with state.build_lock(r):
            if full:
                state.reset(r)
            before = state.read_state(r)
            lines, read_at = orders_source.read_paid_lines(pg_url, before["watermark"])
            if not lines and not before["baskets"] and not before["history"]:
                raise NoOrders("no paid orders in the orders database yet (check out through the gateway "
                               "first), and no history to start from: nothing to build")
            delta, changed = merge(state.known_baskets(r, sorted({b for b, _ in lines})), lines)
            state.apply(r, delta, changed, read_at)
            current = store.decode_meta(r.hgetall(store.META))
            meta = _publish(r, top_k) if changed or not current else current
    finally:
        r.close()
    return {k: meta[k] for k in ("batch", "built_at", "orders", "skus", "pairs")} | {
        "source": "orders", "lines_read": len(lines), "baskets_changed": len(changed),
        "published": bool(changed or not current), "watermark": read_at.isoformat(),
        "since": before["watermark"].isoformat() if before["watermark"] else None,
        "seconds": round(time.perf_counter() - t0, 3)}
