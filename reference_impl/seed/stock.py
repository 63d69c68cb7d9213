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
#: Warehouses stocked when `--stock` gives one number and `--warehouses` is not given: two, so an order can be
#: served from either and the race's warehouse choice has something to choose.
DEFAULT_WAREHOUSES = 2
#: Rows per statement: large enough that 200,000 receipts take seconds, small enough for one transaction.
CHUNK = 20_000


def warehouse_ids(n: int) -> list[str]:
    """The same names the race and the swarm seed with (`wh-1`, `wh-2`, ...)."""
    return [f"wh-{i + 1}" for i in range(n)]


def per_warehouse_units(text: str, warehouses: int | None) -> list[int]:
    """`--stock` as typed: one number for every warehouse (`--warehouses`, default DEFAULT_WAREHOUSES), or
    one per warehouse, comma separated (`20,5,0`: wh-3 carries none), then `--warehouses` may only agree."""
    try:
        units = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--stock {text!r}: a number of units, or one per warehouse like 20,5") from None
    if len(units) == 1:
        units *= DEFAULT_WAREHOUSES if warehouses is None else warehouses
    elif warehouses is not None and warehouses != len(units):
        raise ValueError(f"--stock names {len(units)} warehouses but --warehouses says {warehouses}")
    if not units or min(units) < 0 or max(units) < 1:
        raise ValueError("--stock: units not negative, some warehouse stocked, --warehouses at least 1")
    return units


def plan(products: pd.DataFrame, per_warehouse: int | list[int], warehouses: int, last_unit: int) -> pd.DataFrame:
    """One row per (sku, warehouse, qty): the `last_unit` most popular SKUs get one unit in the first
    warehouse only; every other SKU `per_warehouse` units in each (a list: that many in each in turn; a
    warehouse with 0 gets no row, it does not carry the SKU)."""
    units = [per_warehouse] * warehouses if isinstance(per_warehouse, int) else list(per_warehouse)
    if warehouses < 1 or len(units) != warehouses or min(units) < 0 or max(units) < 1 or last_unit < 0:
        raise ValueError("--stock and --warehouses must be at least 1, --last-unit not negative")
    ranked = products.sort_values(["popularity", "sku"], ascending=[False, True])["sku"].tolist()
    hot, rest = ranked[:last_unit], ranked[last_unit:]
    ids = warehouse_ids(warehouses)
    whs = [(w, n) for w, n in zip(ids, units, strict=True) if n]
    rows = [(s, ids[0], 1, True) for s in hot] + [(s, w, n, False) for s in rest for w, n in whs]
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
