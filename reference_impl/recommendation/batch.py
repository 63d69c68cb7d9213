"""`lastunit recs build`: order history -> co-occurrence lists -> Redis, as one batch.

The history is a table of order lines (order_id, sku), read from a Parquet or CSV file: the seed generator
writes one (`lastunit seed`), and an export of the orders database has the same shape.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import redis

from reference_impl.recommendation import store
from reference_impl.recommendation.cooccur import TOP_K, also_bought
from scenarios.paths import lab_home


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


def build(redis_url: str, history: pd.DataFrame, top_k: int = TOP_K) -> dict:
    t0 = time.perf_counter()
    lists = also_bought(history, top_k)
    r = redis.from_url(redis_url)
    try:
        meta = store.publish(r, lists, orders=history["order_id"].nunique())
    finally:
        r.close()
    return meta | {"seconds": round(time.perf_counter() - t0, 3)}
