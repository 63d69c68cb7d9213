"""The seeded catalog is buyable: `reference_impl.seed.stock` stocks every SKU, the most popular with one
unit only, writes the `initial` movements the auditor counts supply from, and a second seed adds nothing."""

from __future__ import annotations

import httpx
import pytest

from reference_impl.audit.inventory import audit_inventory
from reference_impl.seed import catalog
from reference_impl.seed import stock as stocking
from tests.conftest import STACK

pytestmark = STACK


def test_plan_gives_the_most_popular_skus_one_unit():
    products = catalog.generate(30, 4)
    rows = stocking.plan(products, per_warehouse=5, warehouses=3, last_unit=2)
    top = products.sort_values(["popularity", "sku"], ascending=[False, True])["sku"].tolist()[:2]
    assert rows.loc[rows["last_unit"], "sku"].tolist() == top
    assert set(rows.loc[rows["last_unit"], "qty"]) == {1} and set(rows.loc[~rows["last_unit"], "qty"]) == {5}
    assert len(rows) == 2 + 28 * 3
    with pytest.raises(ValueError):
        stocking.plan(products, per_warehouse=0, warehouses=1, last_unit=0)


def test_stocking_is_real_stock_conserved_and_idempotent(lab, pg_url, unique):
    products = catalog.generate(40, 9)
    products["sku"] = unique("seeded") + "-" + products["sku"]
    rows = stocking.plan(products, per_warehouse=4, warehouses=2, last_unit=3)
    assert stocking.stock(pg_url, rows) == len(rows)
    assert stocking.stock(pg_url, rows) == 0                       # a second seed adds no units
    hot = rows.loc[rows["last_unit"], "sku"].iloc[0]
    shelf = httpx.get(f"{lab['inventory']['url']}/stock/{hot}", timeout=10).json()["warehouses"]
    assert [(w["warehouse"], w["available"]) for w in shelf] == [("wh-1", 1)]
    audit = audit_inventory(pg_url, rows["sku"].unique().tolist())
    assert audit["ok"] and audit["stock_conserved"] and audit["rows_checked"] == len(rows)
