"""A realistic catalog: categories with their own nouns and price levels, brands per category, Zipf
popularity (a few SKUs get most of the attention, as on any shop), lognormal prices, ratings near 4.

Seeds: one numpy SeedSequence spawns one stream per attribute, so changing how prices are drawn does not
reshuffle which SKUs are popular.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: category -> (nouns, median price): the price level is what makes price facets look like a shop's.
CATEGORIES = {
    "audio": (["headphones", "speaker", "earbuds", "soundbar", "turntable"], 60.0),
    "computers": (["laptop", "monitor", "keyboard", "mouse", "webcam"], 180.0),
    "phones": (["phone", "charger", "case", "cable", "powerbank"], 40.0),
    "home": (["lamp", "kettle", "blender", "toaster", "vacuum"], 45.0),
    "kitchen": (["pan", "knife", "pot", "grater", "scale"], 25.0),
    "garden": (["hose", "shovel", "planter", "mower", "sprinkler"], 35.0),
    "toys": (["puzzle", "robot", "blocks", "doll", "kite"], 20.0),
    "sports": (["ball", "racket", "helmet", "bottle", "mat"], 30.0),
    "books": (["novel", "cookbook", "atlas", "guide", "journal"], 15.0),
    "fashion": (["jacket", "sneakers", "scarf", "backpack", "watch"], 55.0),
    "beauty": (["serum", "brush", "dryer", "razor", "lotion"], 18.0),
    "office": (["chair", "desk", "stapler", "notebook", "pen"], 22.0),
}
ADJECTIVES = ("wireless compact portable classic smart ergonomic premium lightweight durable foldable quiet "
              "rechargeable stainless organic vintage modern").split()
SYLLABLES = "ka lo mi ra ven tor sa li no qua zen bri co dex fy ul ar mo ne vi".split()
#: Zipf exponent: ~1 is what page views and sales follow on real shops.
ZIPF_S = 1.05
BRANDS_PER_CATEGORY = 40


def _brand_names(rng, n: int) -> list[str]:
    names = set()
    while len(names) < n:
        names.add("".join(rng.choice(SYLLABLES, size=rng.integers(2, 4))).capitalize())
    return sorted(names)


def generate(size: int, seed: int = 1) -> pd.DataFrame:
    pop_rng, cat_rng, brand_rng, price_rng, rating_rng, word_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    ranks = pop_rng.permutation(size) + 1
    popularity = 1.0 / ranks ** ZIPF_S
    popularity /= popularity.sum()
    cats = list(CATEGORIES)
    cat_idx = cat_rng.integers(0, len(cats), size)
    brands = _brand_names(brand_rng, BRANDS_PER_CATEGORY * len(cats))
    brand_weights = 1.0 / np.arange(1, BRANDS_PER_CATEGORY + 1) ** ZIPF_S
    brand_pick = brand_rng.choice(BRANDS_PER_CATEGORY, size=size, p=brand_weights / brand_weights.sum())
    medians = np.array([CATEGORIES[c][1] for c in cats])[cat_idx]
    prices = np.round(np.clip(medians * price_rng.lognormal(0.0, 0.7, size), 0.99, 9999.0), 2)
    ratings = np.round(np.clip(rating_rng.normal(4.1, 0.6, size), 1.0, 5.0), 1)
    adj = word_rng.choice(ADJECTIVES, size=(size, 2))
    noun_pick = word_rng.integers(0, 5, size)
    rows = []
    for i in range(size):
        cat = cats[cat_idx[i]]
        brand = brands[cat_idx[i] * BRANDS_PER_CATEGORY + brand_pick[i]]
        noun = CATEGORIES[cat][0][noun_pick[i]]
        sku = f"SKU-{i + 1:06d}"
        rows.append((sku, f"{brand} {adj[i, 0]} {noun} {100 + i % 900}",
                     f"A {adj[i, 1]} {noun} from {brand}, in {cat}.", brand, cat,
                     f"{prices[i]:.2f}", f"{ratings[i]:.1f}", f"https://img.example/{sku}.jpg", popularity[i]))
    return pd.DataFrame(rows, columns=["sku", "title", "description", "brand", "category", "price", "rating",
                                       "image", "popularity"])
