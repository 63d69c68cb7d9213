"""The incremental rule: builds over any slicing of the lines, with rereads, equal one build over them all."""

from __future__ import annotations

import random
from collections import Counter

import pandas as pd

from reference_impl.recommendation.cooccur import MAX_ORDER_LINES, also_bought, pair_counts
from reference_impl.recommendation.merge import merge, top_partners


def _lines(seed: int, baskets: int = 400) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    skus = [f"s{i}" for i in range(30)]
    out = [(f"b{b}", sku) for b in range(baskets) for sku in rng.sample(skus, rng.randint(1, 5))]
    out += [("pallet", f"p{i}") for i in range(MAX_ORDER_LINES + 3)]     # grows past the cap over the builds
    rng.shuffle(out)
    return out


def _incremental(lines: list[tuple[str, str]], seed: int) -> Counter:
    """Builds over random slices, each rereading a random stretch of lines already read (the overlap)."""
    rng = random.Random(seed)
    known: dict[str, frozenset[str]] = {}
    counts: Counter = Counter()
    done = 0
    while done < len(lines):
        upto = min(len(lines), done + rng.randint(1, 60))
        batch = lines[rng.randint(0, done):upto] if done else lines[:upto]
        delta, changed = merge({b: known[b] for b, _ in batch if b in known}, batch)
        counts.update(delta)
        known |= changed
        done = upto
    return Counter({p: n for p, n in counts.items() if n})


def test_any_slicing_with_rereads_equals_one_build_over_everything():
    lines = _lines(1)
    whole = pair_counts(pd.DataFrame(lines, columns=["order_id", "sku"]))
    for seed in range(5):
        assert _incremental(lines, seed) == Counter(whole)
    assert top_partners(whole, 7) == also_bought(pd.DataFrame(lines, columns=["order_id", "sku"]), 7)


def test_a_basket_paid_on_both_sides_of_a_build_gets_its_pair_once():
    delta, known = merge({}, [("k", "A")])
    assert not delta and known == {"k": frozenset({"A"})}
    delta, known = merge(known, [("k", "A"), ("k", "B")])           # A read again, B new
    assert delta == Counter({("A", "B"): 1})
    delta, changed = merge(known, [("k", "B")])                     # shipped later: nothing new
    assert not delta and not changed


def test_a_basket_that_grows_past_the_cap_takes_its_pairs_back():
    first = [("big", f"x{i}") for i in range(MAX_ORDER_LINES)]
    delta, known = merge({}, first)
    assert sum(delta.values()) == MAX_ORDER_LINES * (MAX_ORDER_LINES - 1) // 2
    back, _ = merge(known, [("big", "one-too-many")])
    assert back == Counter({p: -1 for p in delta})
