"""The batch computation, pure pandas: co-occurrence counts of SKUs within the same order.

count(X, Y) = the number of distinct orders holding both X and Y. Each X keeps its TOP_K partners, best
first, ties broken by SKU so the output is deterministic (and a brute-force count can check it exactly).
"""

from __future__ import annotations

import pandas as pd

#: Partners kept per SKU: a page shows 10; the rest leaves the blend room to reorder.
TOP_K = 50
#: Orders with more lines than this are left out: a pallet order pairs everything with everything
#: (quadratic pairs) and says little about what goes together.
MAX_ORDER_LINES = 50


def also_bought(history: pd.DataFrame, top_k: int = TOP_K) -> dict[str, list[tuple[str, int]]]:
    """history: one row per order line, columns order_id and sku. -> sku -> [(partner, count), ...]."""
    lines = history[["order_id", "sku"]].drop_duplicates()
    sizes = lines.groupby("order_id")["sku"].transform("size")
    lines = lines[(sizes > 1) & (sizes <= MAX_ORDER_LINES)]
    pairs = lines.merge(lines, on="order_id", suffixes=("", "_other"))
    pairs = pairs[pairs["sku"] != pairs["sku_other"]]
    counts = pairs.groupby(["sku", "sku_other"]).size().reset_index(name="n")
    counts = counts.sort_values(["sku", "n", "sku_other"], ascending=[True, False, True])
    counts = counts.groupby("sku").head(top_k)
    out: dict[str, list[tuple[str, int]]] = {}
    for sku, other, n in counts.itertuples(index=False):
        out.setdefault(sku, []).append((other, int(n)))
    return out


def pair_counts(history: pd.DataFrame) -> dict[tuple[str, str], int]:
    """The full counts behind `also_bought`, each unordered pair once as (smaller, larger): what a build
    from a history file leaves for later builds from the orders database to add to (`merge.py`)."""
    lines = history[["order_id", "sku"]].drop_duplicates()
    sizes = lines.groupby("order_id")["sku"].transform("size")
    lines = lines[(sizes > 1) & (sizes <= MAX_ORDER_LINES)]
    pairs = lines.merge(lines, on="order_id", suffixes=("", "_other"))
    pairs = pairs[pairs["sku"] < pairs["sku_other"]]
    counts = pairs.groupby(["sku", "sku_other"]).size()
    return {(a, b): int(n) for (a, b), n in counts.items()}
