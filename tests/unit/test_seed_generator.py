"""The generator: deterministic per seed, Zipf-skewed, baskets made of real SKUs with category structure."""

from __future__ import annotations

from reference_impl.seed import catalog, orders


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = catalog.generate(500, 1), catalog.generate(500, 1), catalog.generate(500, 2)
    assert a.equals(b) and not a.equals(c)
    assert orders.generate(a, 300, 1).equals(orders.generate(b, 300, 1))


def test_catalog_is_plausible():
    p = catalog.generate(2000, 3)
    assert p["sku"].is_unique and p["category"].nunique() == len(catalog.CATEGORIES)
    top = p["popularity"].sort_values(ascending=False)
    assert top.head(20).sum() > 0.2 and abs(p["popularity"].sum() - 1) < 1e-9    # a few SKUs lead
    assert p["rating"].astype(float).between(1, 5).all() and (p["price"].astype(float) > 0).all()


def test_orders_use_catalog_skus_and_cluster_by_category():
    p = catalog.generate(2000, 3)
    h = orders.generate(p, 3000, 3)
    assert set(h["sku"]) <= set(p["sku"]) and h["order_id"].nunique() == 3000
    cat = h.merge(p[["sku", "category"]], on="sku")
    multi = cat.groupby("order_id")["category"].agg(["size", "nunique"])
    multi = multi[multi["size"] > 1]
    assert (multi["nunique"] == 1).mean() > 0.3        # same-category baskets far above chance (1/12)
