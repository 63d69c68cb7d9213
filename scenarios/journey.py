"""The shopping journey's carts: which SKUs each session puts in its cart, the same for every engine.

A session is one arrival of the open model's crowd (`arrivals.crowd`): its pick (a hot last-unit SKU with
`load.hot_fraction`, else a Zipf-popular one) is the cart's first line; with `journey.bundle_share` the
cart also holds the bundle, the two catalog SKUs at `journey.bundle_rank` and the next rank (the pair the
shop sells together, so "also bought" has a pair to learn from every run, whatever the Zipf draw); the
rest of its `journey.lines` are further Zipf picks, each SKU once. Drawn up front from the scenario's own
`journey` stream, so a swarm's workers (each sharing every count-th session), `lastunit run` and the
SimPy model fill the very same carts for a seed. Pure numpy: no engine imports this for anything else.
"""

from __future__ import annotations

import numpy as np

from scenarios.arrivals import Crowd, crowd, pick_skus, planned, stages, streams

#: The kinds of request a session makes, in the order a shopper makes them; the swarm reports each one's
#: latency beside the others (login is once per user, not per session, and reported too).
KINDS = ("login", "search", "product", "recommendations", "cart", "checkout")
#: Zipf candidates drawn per further line: popular SKUs repeat, and a cart takes each SKU once; this many
#: draws per line fills a cart of distinct lines but for catalogs of a handful of SKUs.
CANDIDATES_PER_LINE = 4


def bundle(journey, hot: int) -> tuple[int, int]:
    """The bundle's SKU indices: ranks `bundle_rank` and the next among the non-hot SKUs (1 = the top)."""
    first = hot + journey.bundle_rank - 1
    return first, first + 1


def carts(firsts: np.ndarray, journey, hot: int, cold: int, zipf_s: float, seed: int) -> list[list[int]]:
    """Each session's cart as SKU indices (hot first, then cold by rank), its pick on the first line."""
    rng = streams(seed)["journey"]
    n, extra = len(firsts), max(journey.lines - 1, 0) * CANDIDATES_PER_LINE
    with_bundle = rng.random(n) < journey.bundle_share
    picks = pick_skus(n * extra, 0, cold, 0.0, zipf_s, rng).reshape(n, extra) + hot if cold and extra \
        else np.zeros((n, 0), dtype=np.int64)
    pair = bundle(journey, hot) if journey.bundle_share > 0 else ()
    out = []
    for i in range(n):
        lines = [int(firsts[i])]
        for sku in ([*pair] if with_bundle[i] else []) + picks[i].tolist():
            if len(lines) >= journey.lines:
                break
            if sku not in lines:
                lines.append(int(sku))
        out.append(lines)
    return out


def sessions(sc) -> tuple[Crowd, list[list[int]]]:
    """The scenario's sessions: the open crowd (when each starts, its pick) and each one's cart."""
    cat, ld = sc.catalog, sc.load
    people = crowd(stages(ld), ld.duration_s, sc.seed, cat.hot_skus, cat.skus - cat.hot_skus, ld.hot_fraction,
                   cat.zipf_s)
    return people, carts(people.sku, sc.journey, cat.hot_skus, cat.skus - cat.hot_skus, cat.zipf_s, sc.seed)


def line_crowd(sc) -> Crowd:
    """The sessions' cart lines as checkouts, each at its session's start: what an engine that does not
    browse (the model, `lastunit run`) replays, one order per line (the gateway places one order of all a
    cart's lines; those engines know orders of one line only)."""
    people, baskets = sessions(sc)
    t = np.repeat(people.t, [len(b) for b in baskets])
    skus = np.fromiter((s for b in baskets for s in b), dtype=np.int64, count=len(t))
    return Crowd(t, skus)


def checkouts(sc) -> Crowd:
    """What an engine that checks out without browsing replays: a journey's cart lines, else `planned`."""
    return line_crowd(sc) if sc.journey is not None else planned(sc)
