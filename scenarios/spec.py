"""The scenario schema: load a TOML file, apply `--set KEY=VALUE` overrides, validate, or say why not.

The real stack, the SimPy model and the Locust swarm read scenarios only through `load()`, so a field means
the same thing to all three. Errors name the file and the key, in one line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from scenarios.faults import FaultAction, FaultPoint
from scenarios.nemesis import NemesisAction
from scenarios.strategies import MAX_LINES, LockOrder, SoldOut, Strategy

SCENARIO_DIR = Path(__file__).parent
LOAD_MODELS = ("race", "open", "closed")

# -- bounds: a scenario past these is refused by name, in one line, before anything is drawn or started ---------
#: numpy's SeedSequence takes any non-negative integer; TOML's integers stop at 2**63 - 1.
MAX_SEED = 2**63 - 1
#: An hour of load or settling: longer runs are soak tests, which this lab does not pretend to be.
MAX_DURATION_S = 3600.0
#: Arrivals per second at any stage. The model's Prime-Day bench runs 12,000/s; 100,000/s leaves room while
#: one second's draw stays ~1 MB (1e9/s asked numpy for 8 GB in one go: a MemoryError).
MAX_RATE_PER_S = 100_000.0
#: All arrivals of a run (the integral of its shape): each is a row of attempts.parquet, and the crowd is drawn
#: up front. Two million rows is ~200 MB in pandas.
MAX_ARRIVALS = 2_000_000
#: A million-unit stock per warehouse row is far past any real SKU and inside the services' own bound (1e9).
MAX_STOCK = 1_000_000
#: Delays and think times in milliseconds: a minute is already a broken service, not a slow one.
MAX_DELAY_MS = 60_000.0
#: The services' own ceiling for a reservation's TTL (inventory's ReserveBody).
MAX_TTL_S = 7 * 86400.0

#: Searches, product pages or recommendation reads in one shopping session: past this it is a crawler.
MAX_JOURNEY_STEPS = 50
#: Lines in one journey cart: the recommendation batch leaves out orders of more than 50 lines
#: (cooccur.MAX_ORDER_LINES); a cart is far smaller.
MAX_CART_LINES = 20

#: Every numeric field's inclusive bounds, by `Class.field`; the loader checks each where it builds it, so the
#: error names the key as typed (`load.shape[0].rate`).
BOUNDS: dict[str, tuple[float, float]] = {
    "Scenario.seed": (0, MAX_SEED),
    "Scenario.settle_s": (0, MAX_DURATION_S),
    "Catalog.skus": (1, 10_000_000),
    "Catalog.hot_skus": (0, 10_000_000),
    "Catalog.warehouses": (1, 1000),
    "Catalog.hot_stock": (0, MAX_STOCK),
    "Catalog.stock_per_warehouse": (0, MAX_STOCK),
    "Catalog.zipf_s": (0.01, 10.0),
    "Stage.at_s": (0, MAX_DURATION_S),
    "Stage.rate": (0, MAX_RATE_PER_S),
    "Load.buyers": (1, 100_000),
    "Load.qty": (1, 10_000),
    "Load.lines": (1, MAX_LINES),
    "Load.users": (1, 100_000),
    "Load.think_ms": (0, MAX_DELAY_MS),
    "Load.duration_s": (0.001, MAX_DURATION_S),
    "Load.hot_fraction": (0, 1),
    "Inventory.reservation_ttl_s": (0.001, MAX_TTL_S),
    "Inventory.naive_window_ms": (0, 5000),
    "Payment.decline_rate": (0, 1),
    "Webhooks.delay_ms": (0, MAX_DELAY_MS),
    "Webhooks.duplicate": (0, 1),
    "Webhooks.reorder": (0, 1),
    "Fault.probability": (0, 1),
    "Fault.delay_ms": (0, MAX_DELAY_MS),
    "Journey.searches": (0, MAX_JOURNEY_STEPS),
    "Journey.facet_share": (0, 1),
    "Journey.product_pages": (0, MAX_JOURNEY_STEPS),
    "Journey.recommendations": (0, MAX_JOURNEY_STEPS),
    "Journey.lines": (1, MAX_CART_LINES),
    "Journey.bundle_share": (0, 1),
    "Journey.bundle_rank": (1, 10_000_000),
    "Journey.think_ms": (0, MAX_DELAY_MS),
}


class ScenarioError(ValueError):
    """A scenario that cannot run, with the reason in one line."""


@dataclass
class Catalog:
    skus: int = 1                  # SKUs in the run (hot ones first)
    hot_skus: int = 1              # SKUs everyone wants: the last-unit races
    warehouses: int = 1
    hot_stock: int = 1             # units of each hot SKU, spread over the warehouses
    stock_per_warehouse: int = 100  # units of each other SKU in each warehouse
    zipf_s: float = 1.1            # popularity of the non-hot SKUs: rank r is picked ~ 1 / r**s


@dataclass
class Stage:
    at_s: float                    # from the start of the run
    rate: float                    # checkout arrivals per second; linear between stages


@dataclass
class Load:
    model: str = "race"            # race: `buyers` at one instant; open: arrivals at `shape` rates; closed
    buyers: int = 2                # race: how many buyers are released together
    qty: int = 1
    lines: int = 1                 # race: SKUs each buyer wants (qty of each), all or nothing; 2+ alternate orders
    users: int = 10                # closed: concurrent users, each waiting `think_ms` between attempts
    think_ms: float = 0.0
    duration_s: float = 10.0       # open and closed
    hot_fraction: float = 0.5      # open and closed: share of checkouts that go for a hot SKU
    shape: list[Stage] = field(default_factory=list)


@dataclass
class Inventory:
    strategy: Strategy = Strategy.GUARDED
    reservation_ttl_s: float = 900.0
    naive_window_ms: int = 20      # the control's read-to-write window
    sold_out: SoldOut = SoldOut.AUTO   # the sold-out short-circuit: auto (on for batched), on, off, stale
    lock_order: LockOrder = LockOrder.SORTED   # several lines: sorted (no deadlock) or request (the control)


@dataclass
class Payment:
    idempotency: bool = True
    decline_rate: float = 0.0


@dataclass
class Webhooks:
    delay_ms: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0


@dataclass
class Fault:
    point: FaultPoint
    action: FaultAction
    probability: float = 1.0
    delay_ms: float = 0.0


@dataclass
class NemesisRandom:
    count: int                     # events at uniform times within the load
    seed: int = 1                  # the schedule's own seed: the same kills at the same instants every run
    targets: list[str] = field(default_factory=list)   # drawn from these (default: every target)


@dataclass
class Nemesis:
    """One process killed at `at_s` (see scenarios/nemesis.py), or `random` ones."""
    at_s: float | None = None      # seconds from the start of the load
    target: str | None = None      # a service name, supervisor, redis or postgres
    action: NemesisAction | None = None   # kill (default), or restart for postgres (its only action)
    random: NemesisRandom | None = None


@dataclass
class Journey:
    """A shopping session per arrival (scenarios/journey.py): log in, search, open product pages, read
    recommendations, fill a cart, check it out. Only the swarm through the gateway runs the browsing; the
    model and `run` take its carts' lines as checkouts (one order per line; the gateway places one order of
    all a cart's lines)."""
    searches: int = 2              # full-text searches per session
    facet_share: float = 0.5       # share of searches that also filter by a category facet
    product_pages: int = 2         # product pages opened (the cart's own lines first)
    recommendations: int = 1       # "also bought" reads, for SKUs in the cart
    lines: int = 3                 # cart lines: the arrival's pick, the bundle if drawn, then Zipf picks
    bundle_share: float = 0.5      # share of carts holding the bundle: the pair bought together
    bundle_rank: int = 20          # the bundle is the catalog SKUs at this popularity rank and the next
    think_ms: float = 100.0        # between a session's steps


@dataclass
class Scenario:
    name: str
    seed: int = 1
    description: str = ""
    settle_s: float = 10.0         # after the load: how long sagas get to finish before the audit
    catalog: Catalog = field(default_factory=Catalog)
    load: Load = field(default_factory=Load)
    inventory: Inventory = field(default_factory=Inventory)
    payment: Payment = field(default_factory=Payment)
    webhooks: Webhooks = field(default_factory=Webhooks)
    faults: list[Fault] = field(default_factory=list)
    nemesis: list[Nemesis] = field(default_factory=list)
    journey: Journey | None = None  # a shopping journey per arrival (absent: a checkout per arrival)
    source: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
