"""`--stock` per warehouse as typed, and the plan it makes: pure, no database."""

from __future__ import annotations

import pytest

from reference_impl.seed import catalog
from reference_impl.seed import stock as stocking


@pytest.mark.parametrize(("text", "warehouses", "want"), [("20", None, [20, 20]), ("7", 3, [7, 7, 7]),
                                                          ("20,5,0", None, [20, 5, 0]), ("4,1", 2, [4, 1])])
def test_stock_is_one_number_or_one_per_warehouse(text, warehouses, want):
    assert stocking.per_warehouse_units(text, warehouses) == want


@pytest.mark.parametrize(("text", "warehouses"), [("x", None), ("5,1", 3), ("-1,4", None), ("0", 2), ("0,0", None),
                                                  ("5", 0)])
def test_bad_stock_is_refused(text, warehouses):
    with pytest.raises(ValueError):
        stocking.per_warehouse_units(text, warehouses)


def test_each_warehouse_gets_its_units_and_one_with_none_carries_nothing():
    products = catalog.generate(12, 2)
    rows = stocking.plan(products, [6, 2, 0], 3, last_unit=1)
    cold = rows[~rows["last_unit"]]
    assert dict(cold.groupby("warehouse")["qty"].unique().map(list)) == {"wh-1": [6], "wh-2": [2]}
    assert len(cold) == 11 * 2 and rows.loc[rows["last_unit"], ["warehouse", "qty"]].values.tolist() == [["wh-1", 1]]
