"""The sold-out short-circuit in the model: reference_impl/inventory/soldout.py and desk.py, as one
service process sees them.

Covers: an ask refused from memory without a pool connection or a statement; learning after the database
    refused (one round trip on a pooled connection for the attempt ids that hold reservations, once per SKU
    at a time); forgetting when units come back (a release or an expiry heard at once: the model has no
    notification delay) or after SOLD_OUT_MAX_AGE_S; a return heard while the lesson was in flight stops it.
    `stale` (the control) never forgets.
Scenario: the modelled service is one process, so one memory (with `loops` > 1 the model shares it: an
    approximation, as for the pool). The memory is keyed by SKU: the model's buyers never name a warehouse.
"""

from __future__ import annotations

from scenarios.policy import SOLD_OUT_MAX_AGE_S
from scenarios.strategies import SoldOut


class Memory:
    def __init__(self, shop, mode: SoldOut):
        self.shop, self.mode = shop, mode
        self.learned: dict[int, float] = {}      # sku -> when it was learned sold out
        self.epochs: dict[int, int] = {}         # returns heard per SKU
        self.learning: set[int] = set()
        self.refused = 0

    def refuses(self, sku: int) -> bool:
        at = self.learned.get(sku)
        if at is None:
            return False
        if self.mode is SoldOut.ON and self.shop.env.now - at > SOLD_OUT_MAX_AGE_S:
            del self.learned[sku]
            return False
        self.refused += 1
        return True

    def learn(self, sku: int, epoch: int):
        """After the database refused: read the holders (one round trip on a pooled connection), remember."""
        if sku in self.learning or sku in self.learned:
            return
        self.learning.add(sku)
        shop = self.shop
        with shop.pool.request() as conn:
            if not conn.triggered:
                yield conn
            yield from shop.db(shop.stmt_s)
        self.learning.discard(sku)
        if self.mode is SoldOut.STALE or self.epochs.get(sku, 0) == epoch:
            self.learned[sku] = shop.env.now

    def heard_return(self, sku: int) -> None:
        self.epochs[sku] = self.epochs.get(sku, 0) + 1
        if self.mode is not SoldOut.STALE:
            self.learned.pop(sku, None)
