"""The serving-time blend: the precomputed list for the SKU on screen, reordered by what the user just
clicked. Pure functions, so the ranking rule is testable without Redis.

score(Y) = count(X, Y) / max_count(X)                        what buyers of X also bought, in [0, 1]
         + sum over recent clicks c_i (i = 0 most recent):
               CLICK_BOOST * DECAY**i          if Y is c_i   (the user is looking at Y right now)
             + LIST_WEIGHT * DECAY**i * count(c_i, Y) / max_count(c_i)   (what goes with what they clicked)
"""

from __future__ import annotations

#: A just-clicked item outranks all but the strongest co-purchase; DECAY halves it every other click.
CLICK_BOOST = 0.6
DECAY = 0.7
LIST_WEIGHT = 0.3


def _normalized(partners: list[tuple[str, int]]) -> dict[str, float]:
    top = max((n for _, n in partners), default=0)
    return {sku: n / top for sku, n in partners} if top else {}


def blend(sku: str | None, lists: dict[str, list[tuple[str, int]]], clicks: list[str],
          limit: int) -> list[dict]:
    """lists: sku -> its precomputed partners (for `sku` and for each clicked SKU)."""
    base = lists.get(sku, []) if sku else []
    counts = dict(base)
    score: dict[str, float] = dict(_normalized(base))
    for i, clicked in enumerate(clicks):
        weight = DECAY ** i
        score[clicked] = score.get(clicked, 0.0) + CLICK_BOOST * weight
        for other, s in _normalized(lists.get(clicked, [])).items():
            score[other] = score.get(other, 0.0) + LIST_WEIGHT * weight * s
    score.pop(sku, None)
    ranked = sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"sku": s, "score": round(v, 6), "count": counts.get(s, 0)} for s, v in ranked]


def unblended(sku: str, lists: dict[str, list[tuple[str, int]]], limit: int) -> list[dict]:
    return blend(sku, lists, [], limit)
