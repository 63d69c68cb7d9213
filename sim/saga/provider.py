"""The payment provider fake in the model: its ledger of charges, keyed by the caller's idempotency key.

Why apart: the provider's ledger is the auditor's ground truth for money (as `reference_impl/psp/` is for
the real auditor), so it holds nothing of our services' state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Charge:
    id: str
    reference: str
    amount: int
    status: str                  # authorized, declined, captured, voided, refunded
    captures: int = 0
    net: int = 0


class Provider:
    def __init__(self, decline_rate: float, rng: np.random.Generator):
        self.decline_rate, self.declines = decline_rate, rng
        self.charges: dict[str, Charge] = {}          # the ledger, by its idempotency key
        self.by_ref: dict[str, list[Charge]] = {}

    def charge(self, key: str, reference: str, amount: int) -> Charge:
        """Authorize once per key: a repeated key answers the first charge."""
        ch = self.charges.get(key)
        if ch is None:
            declined = self.declines.random() < self.decline_rate
            ch = Charge(f"ch_{len(self.charges)}", reference, amount, "declined" if declined else "authorized")
            self.charges[key] = ch
            self.by_ref.setdefault(reference, []).append(ch)
        return ch

    @staticmethod
    def capture(ch: Charge) -> None:
        if ch.status == "authorized":
            ch.status, ch.captures, ch.net = "captured", ch.captures + 1, ch.net + ch.amount

    def give_back(self, reference: str) -> None:
        """OrderCancelled at payment: void what is authorized, refund what was captured."""
        for ch in self.by_ref.get(reference, ()):
            if ch.status == "authorized":
                ch.status = "voided"
            elif ch.status == "captured":
                ch.status, ch.net = "refunded", ch.net - ch.amount
