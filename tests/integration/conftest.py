"""Fixtures the integration tests of one service share."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def api(inventory_url):
    """The inventory service's HTTP API (its lifecycle and its baskets)."""
    with httpx.Client(base_url=inventory_url, timeout=30) as c:
        yield c
