"""The blend rule without Redis: clicks reorder, the page's own SKU never shows, ties are deterministic."""

from __future__ import annotations

import pandas as pd

from reference_impl.recommendation.blend import blend
from reference_impl.recommendation.cooccur import also_bought

LISTS = {"X": [("A", 10), ("B", 8), ("C", 2), ("E", 1)], "E": [("D", 5), ("X", 1)]}


def test_without_clicks_the_order_is_the_batchs():
    assert [it["sku"] for it in blend("X", LISTS, [], 10)] == ["A", "B", "C", "E"]


def test_a_recent_click_moves_an_item_up_and_brings_its_partners():
    ranked = [it["sku"] for it in blend("X", LISTS, ["E"], 10)]
    assert ranked == ["A", "B", "E", "D", "C"]      # E up from last; D comes with it; X never


def test_more_recent_clicks_count_more():
    ranked = [it["sku"] for it in blend(None, {}, ["new", "old"], 10)]
    assert ranked == ["new", "old"]


def test_also_bought_counts_distinct_orders_and_skips_single_lines():
    h = pd.DataFrame({"order_id": ["1", "1", "1", "2", "2", "3"], "sku": ["a", "b", "b", "a", "b", "c"]})
    assert also_bought(h) == {"a": [("b", 2)], "b": [("a", 2)]}
