"""The seeded shop a journey swarm buys from: its SKU names in the scenario's index order (the hot
last-unit SKUs first, then the catalog by popularity rank), or one line saying to run `lastunit seed`.

Why read it from the databases and not from the seed's output: the shop is whatever `lastunit seed` left
in the catalog and the inventory (a kept stack, seeded once, swarmed many times), and the seed ranks and
stocks by the same order this reads (popularity, then SKU), so its last-unit SKUs lead the ranking (on a
shop seeded more than once they may not lead: the last-unit ones are whichever ranked SKUs hold one unit).
"""

from __future__ import annotations

from pathlib import Path

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.spec import Scenario, ScenarioError

Q = aiosql.from_path(str(Path(__file__).parent.parent / "sql" / "shop.sql"), "psycopg", mandatory_parameters=False)
#: The seed stocks each last-unit SKU with exactly this many units in all (reference_impl/seed/stock.py).
LAST_UNIT = 1


class NotSeeded(ScenarioError):
    """No seeded shop, or one too small for the scenario: run `lastunit seed` (one line, exit 2)."""


def seeded_skus(server_url: str, sc: Scenario) -> list[str]:
    """`catalog.hot_skus` last-unit SKUs, then `catalog.skus - hot` stocked catalog SKUs by popularity.
    Raises NotSeeded when the shop cannot supply them (never seeded, or seeded smaller)."""
    c = sc.catalog
    with psycopg.connect(database_url(server_url, "catalog")) as conn:
        ranked = [sku for (sku,) in Q.ranked_products(conn, n=2 * c.skus)]
    if not ranked:
        raise NotSeeded("no seeded catalog: run `lastunit seed` first (a journey buys the seeded shop's SKUs)")
    with psycopg.connect(database_url(server_url, "inventory")) as conn:
        units = dict(Q.initial_units(conn, skus=ranked))
    hot = [s for s in ranked if units.get(s) == LAST_UNIT][:c.hot_skus]
    cold = [s for s in ranked if (units.get(s) or 0) > LAST_UNIT][:c.skus - c.hot_skus]
    if len(hot) < c.hot_skus or len(cold) < c.skus - c.hot_skus:
        raise NotSeeded(f"the seeded shop has {len(hot)} last-unit and {len(cold)} other stocked SKU(s); the scenario "
                        f"buys {c.hot_skus} and {c.skus - c.hot_skus}: run `lastunit seed` (--size, --last-unit)")
    return hot + cold

