"""The incremental rule, pure: new basket lines merged into co-occurrence counts already made.

State kept between builds: for every basket counted so far, the SKUs counted in it; and the pair counts
count(X, Y) = number of baskets holding both. A build reads the lines of paid orders touched since its
watermark (`orders_source.py`), and for each basket it touched:

    before = the SKUs counted in it already      after = before | the SKUs read now
    delta  = pairs(after) - pairs(before)        (a basket over MAX_ORDER_LINES has no pairs)

So a line read twice (an order shipped after it was counted, the watermark's overlap) adds nothing, a
basket whose lines were paid on both sides of a build gets its pairs when its second line comes, and the
counts after any sequence of builds equal one build over every line read (a test checks exactly that).
A refund after a line was counted is not subtracted: "also bought" counts purchases made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import combinations

from reference_impl.recommendation.cooccur import MAX_ORDER_LINES, TOP_K

Pair = tuple[str, str]


def pairs(skus: frozenset[str]) -> list[Pair]:
    """The unordered pairs a basket counts, each as (smaller, larger): none for one line or a pallet."""
    if len(skus) > MAX_ORDER_LINES:
        return []
    return list(combinations(sorted(skus), 2))


def merge(known: dict[str, frozenset[str]], lines: Iterable[tuple[str, str]]
          ) -> tuple[Counter, dict[str, frozenset[str]]]:
    """known: the SKUs already counted for (at least) the baskets in `lines`; lines: (basket, sku) pairs.
    -> (pair-count deltas, negative only when a basket grew past MAX_ORDER_LINES; each changed basket's
    new SKU set)."""
    grown: dict[str, set[str]] = {}
    for basket, sku in lines:
        grown.setdefault(basket, set(known.get(basket, frozenset()))).add(sku)
    delta: Counter = Counter()
    changed: dict[str, frozenset[str]] = {}
    for basket, skus in grown.items():
        before, after = known.get(basket, frozenset()), frozenset(skus)
        if after == before:
            continue
        changed[basket] = after
        delta.update(pairs(after))
        delta.subtract(pairs(before))
    return Counter({p: n for p, n in delta.items() if n}), changed


def top_partners(counts: dict[Pair, int], top_k: int = TOP_K) -> dict[str, list[tuple[str, int]]]:
    """Both directions of every pair, each SKU's best `top_k` partners first, ties by SKU (as
    `cooccur.also_bought` orders them)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for (a, b), n in counts.items():
        if n > 0:
            out.setdefault(a, []).append((b, n))
            out.setdefault(b, []).append((a, n))
    return {sku: sorted(partners, key=lambda p: (-p[1], p[0]))[:top_k] for sku, partners in out.items()}
