"""Stock for the seeded catalog, so a swarm can buy what it browses: every SKU gets units in each warehouse,
and a few of the most popular get exactly one unit in one warehouse (the last-unit SKUs a Prime-Day crowd
fights over).

Why straight into the inventory database and not through its HTTP API: a catalog of 100,000 SKUs is 200,000
goods receipts; one statement per chunk writes the same rows (stock and its `initial` movements) the
service's `receive_stock` would, so the auditor's stock conservation holds for seeded rows too.
"""

from __future__ import annotations

from importlib import resources

import aiosql
import pandas as pd
import psycopg

from reference_impl.infra.settings import database_url

Q = aiosql.from_path(str(resources.files("reference_impl.seed") / "sql" / "stock.sql"), "psycopg",
                     mandatory_parameters=False)
#: Rows per statement: large enough that 200,000 receipts take seconds, small enough for one transaction.
CHUNK = 20_000


def warehouse_ids(n: int) -> list[str]:
    """The same names the race and the swarm seed with (`wh-1`, `wh-2`, ...)."""
    return [f"wh-{i + 1}" for i in range(n)]


def plan(products: pd.DataFrame, per_warehouse: int, warehouses: int, last_unit: int) -> pd.DataFrame:
    """One row per (sku, warehouse, qty): the `last_unit` most popular SKUs get one unit in the first
    warehouse only; every other SKU `per_warehouse` units in each."""
    if per_warehouse < 1 or warehouses < 1 or last_unit < 0:
        raise ValueError("--stock and --warehouses must be at least 1, --last-unit not negative")
    ranked = products.sort_values(["popularity", "sku"], ascending=[False, True])["sku"].tolist()
    hot, rest = ranked[:last_unit], ranked[last_unit:]
    whs = warehouse_ids(warehouses)
    rows = [(s, whs[0], 1, True) for s in hot] + [(s, w, per_warehouse, False) for s in rest for w in whs]
    return pd.DataFrame(rows, columns=["sku", "warehouse", "qty", "last_unit"])


def stock(server_url: str, rows: pd.DataFrame) -> int:
    """Write the plan's rows not stocked yet; returns how many were new."""
    new = 0
    with psycopg.connect(database_url(server_url, "inventory")) as conn:
        Q.ensure_warehouses(conn, ids=sorted(rows["warehouse"].unique().tolist()))
        for start in range(0, len(rows), CHUNK):
            part = rows.iloc[start:start + CHUNK]
            new += Q.stock_new_rows(conn, skus=part["sku"].tolist(), warehouses=part["warehouse"].tolist(),
                                    qtys=[int(q) for q in part["qty"]])
            conn.commit()
    return new
