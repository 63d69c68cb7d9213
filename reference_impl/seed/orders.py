"""Synthetic order history for the recommendation job: baskets that look like baskets.

An order's first line follows popularity (Zipf); each further line comes, with probability SAME_CATEGORY,
from the same category as the first (people buy a phone and a case), else from the whole shop. That gives
the co-occurrence job real structure to find. Fully vectorized: 100,000 orders take about a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SAME_CATEGORY = 0.6
#: Basket size: geometric from 1, mean about 1.7 lines, capped where a basket stops being a basket.
EXTRA_LINES_P = 0.42
MAX_LINES = 8


def _sample(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(cum) - 1)


def generate(products: pd.DataFrame, n_orders: int, seed: int = 1) -> pd.DataFrame:
    size_rng, first_rng, extra_rng, users_rng = (np.random.default_rng(s) for s in
                                                 np.random.SeedSequence(seed + 7919).spawn(4))
    pop = products["popularity"].to_numpy()
    cats = products["category"].to_numpy()
    first = _sample(np.cumsum(pop), first_rng.random(n_orders))
    lines = np.minimum(size_rng.geometric(1 - EXTRA_LINES_P, n_orders), MAX_LINES)
    order_of_extra = np.repeat(np.arange(n_orders), lines - 1)
    extra = _sample(np.cumsum(pop), extra_rng.random(len(order_of_extra)))
    same = extra_rng.random(len(order_of_extra)) < SAME_CATEGORY
    for cat in np.unique(cats):
        members = np.flatnonzero(cats == cat)
        pick = same & (cats[first[order_of_extra]] == cat)
        extra[pick] = members[_sample(np.cumsum(pop[members]), extra_rng.random(pick.sum()))]
    order_idx = np.concatenate([np.arange(n_orders), order_of_extra])
    sku_idx = np.concatenate([first, extra])
    users = users_rng.integers(1, max(2, n_orders // 3), n_orders)
    df = pd.DataFrame({"order_id": [f"O-{i + 1:07d}" for i in order_idx],
                       "user_id": [f"user-{users[i]}" for i in order_idx],
                       "sku": products["sku"].to_numpy()[sku_idx]})
    return df.drop_duplicates(["order_id", "sku"]).sort_values(["order_id", "sku"]).reset_index(drop=True)
