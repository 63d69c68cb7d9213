"""The catalog's decimal price becomes the whole cents orders and payment count, rounded half up."""

from __future__ import annotations

import pytest

from reference_impl.gateway.cart_checkout import cents


@pytest.mark.parametrize(("price", "want"), [(12.5, 1250), (0.1, 10), (19.99, 1999), (0.995, 100), ("3.07", 307),
                                             (10_000_000, 1_000_000_000), (0, 0)])
def test_cents(price, want):
    assert cents(price) == want
