"""Putting generated data where the services read it: the catalog's source table (the relay then indexes
it, which is the point: the seed is also a CDC load test) and the order history file for the recs job."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import aiosql
import pandas as pd
import psycopg

from reference_impl.infra.settings import database_url

Q = aiosql.from_path(str(resources.files("reference_impl.seed") / "sql"), "psycopg", mandatory_parameters=False)
#: Rows per transaction: the relay's peek returns a transaction whole, so this bounds its batch memory.
CHUNK = 5000
COLUMNS = ("sku", "title", "description", "brand", "category", "price", "rating", "image", "popularity")


def load_products(server_url: str, products: pd.DataFrame, progress=None) -> float:
    """Upsert every row into products; returns seconds taken."""
    t0 = time.perf_counter()
    with psycopg.connect(database_url(server_url, "catalog")) as conn:
        Q.create_stage(conn)
        conn.commit()
        for start in range(0, len(products), CHUNK):
            chunk = products.iloc[start:start + CHUNK]
            with conn.cursor() as cur, cur.copy(f"COPY seed_stage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in chunk[list(COLUMNS)].itertuples(index=False):
                    copy.write_row(row)
            Q.upsert_from_stage(conn)
            conn.commit()
            if progress:
                progress(min(start + CHUNK, len(products)), len(products))
    return time.perf_counter() - t0


def wait_indexed(server_url: str, timeout_s: float) -> tuple[float, int]:
    """Poll until the index holds every product's current version: (seconds waited, rows still behind)."""
    t0 = time.perf_counter()
    with psycopg.connect(database_url(server_url, "catalog"), autocommit=True) as conn:
        while True:
            behind = Q.index_behind(conn)
            if behind == 0 or time.perf_counter() - t0 > timeout_s:
                return time.perf_counter() - t0, behind
            time.sleep(0.5)


def write_history(history: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    history.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path
