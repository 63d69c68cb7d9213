"""The sold-out short-circuit's memory: one process's knowledge that a SKU (or one warehouse of it) is sold
out, so a crowd that can only hear "out of stock" hears it without a database round trip.

When an entry is trusted (mode `on`):
- it was learned from the database's own answer (every warehouse asked had too little for the ask), and no
  return of units on that SKU was heard between sending that question and installing the answer (the
  `epoch` a caller reads before asking; see `learn`);
- the process is listening for returns (`listening`, kept by returns.py: a lost LISTEN connection forgets
  everything at once), and no return on that SKU has been heard since: NOTIFY from a trigger on `stock`
  arrives after any release, expiry, restock or new warehouse row commits, and drops the entry;
- it is younger than SOLD_OUT_MAX_AGE_S, the bound should a notification be lost in flight.
An ask is refused only if it wants at least as much as the database just refused, and its attempt id holds
no reservation on the SKU (a retrying winner must still get its reservation back, so it goes through).

Mode `stale` is the control: a separate table that learns the same way but never forgets, so the auditor's
liveness check (no buyer refused while a unit stood available longer than the bound) has a breach to find.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

from scenarios.policy import SOLD_OUT_MAX_AGE_S
from scenarios.strategies import SoldOut

#: Returns are counted per bucket of SKUs, not per SKU, so the counters stay bounded on a catalog of
#: millions; two SKUs sharing a bucket only make a learn step give up a little more often.
EPOCH_BUCKETS = 4096


@dataclass
class Entry:
    min_qty: int                    # an ask for at least this many is refused
    holders: frozenset[str]         # attempt ids holding a reservation on the SKU when this was learned
    at: float = field(default_factory=time.monotonic)


def _bucket(sku: str) -> int:
    return zlib.crc32(sku.encode()) % EPOCH_BUCKETS


class SoldOutMemory:
    def __init__(self, max_age_s: float = SOLD_OUT_MAX_AGE_S, clock=time.monotonic):
        self.max_age_s, self.clock = max_age_s, clock
        self.listening = False
        self._live: dict[tuple[str, str | None], Entry] = {}
        self._stale: dict[tuple[str, str | None], Entry] = {}
        self._epochs = [0] * EPOCH_BUCKETS
        self.refused = 0            # asks answered from memory, for the bench and the tests

    def epoch(self, sku: str) -> int:
        """Read before asking the database; hand it to `learn` with the answer."""
        return self._epochs[_bucket(sku)]

    def _trusted(self, table, key, mode: SoldOut) -> Entry | None:
        entry = table.get(key)
        if entry is None or mode is SoldOut.STALE:
            return entry
        if not self.listening or self.clock() - entry.at > self.max_age_s:
            table.pop(key, None)
            return None
        return entry

    def refuses(self, sku: str, warehouse: str | None, qty: int, attempt_id: str | None, mode: SoldOut) -> bool:
        """True: answer out_of_stock now. Only for modes on and stale."""
        table = self._stale if mode is SoldOut.STALE else self._live
        keys = ((sku, warehouse), (sku, None)) if warehouse is not None else ((sku, None),)
        for key in keys:
            entry = self._trusted(table, key, mode)
            if entry is not None and qty >= entry.min_qty and (attempt_id is None or attempt_id not in entry.holders):
                self.refused += 1
                return True
        return False

    def knows(self, sku: str, warehouse: str | None, qty: int, mode: SoldOut) -> bool:
        """Whether learning this would add nothing (saves a query per refused ask of a batch)."""
        table = self._stale if mode is SoldOut.STALE else self._live
        entry = self._trusted(table, (sku, warehouse), mode)
        return entry is not None and qty >= entry.min_qty

    def learn(self, sku: str, warehouse: str | None, qty: int, holders, epoch: int, mode: SoldOut) -> bool:
        """Remember that `qty` did not fit, unless a return on the SKU was heard since `epoch` was read."""
        if mode is SoldOut.STALE:
            table = self._stale
        elif mode is SoldOut.ON and self.listening and self._epochs[_bucket(sku)] == epoch:
            table = self._live
        else:
            return False
        old = self._trusted(table, (sku, warehouse), mode)
        table[(sku, warehouse)] = Entry(min(qty, old.min_qty) if old else qty, frozenset(holders), self.clock())
        return True

    def heard_return(self, sku: str, warehouse: str) -> None:
        """Units came back on this row: a release, an expiry, a restock, a new warehouse."""
        self._epochs[_bucket(sku)] += 1
        self._live.pop((sku, warehouse), None)
        self._live.pop((sku, None), None)

    def start_listening(self) -> None:
        self.listening = True

    def stop_listening(self) -> None:
        """A lost LISTEN connection: nothing learned can be trusted until we listen again."""
        self.listening = False
        self._live.clear()
        self._epochs = [e + 1 for e in self._epochs]
