"""The swarm's plan: everything a Locust process needs, as one small JSON document.

Why a plan and not the scenario file: `lastunit swarm` resolves the scenario once (file, `--set`, CLI flags)
and every Locust process (local workers, or workers on other machines that never saw the file) reads the
same resolved values. The master sends it to each worker with the shared start instant. No locust import.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scenarios.spec import Scenario

#: `LASTUNIT_PLAN` names the plan file for the Locust process the CLI starts.
PLAN_ENV = "LASTUNIT_PLAN"
#: The inventory database for SQL-level users (never written into the plan: it carries a password).
DATABASE_ENV = "LASTUNIT_DATABASE_URL"
#: Protocols a user can speak; `gateway` (POST /checkout) joins when the checkout saga exists.
TARGETS = ("inventory",)
#: http: the inventory's reserve + commit; gateway: the whole saga via POST /checkout; sql: the SQL blocks.
VIAS = ("http", "gateway", "sql")
#: An open-model pool this size per arrival/s at the peak: Little's law with a checkout of ~0.25 s under
#: load, so the pool is rarely the bottleneck; what it cannot start on time is counted late, not hidden.
POOL_S_PER_ARRIVAL = 0.25
MAX_DEFAULT_POOL = 200
#: Gateway users log in as accounts made for the run; each costs ~0.1 s of CPU to create (scrypt) and one
#: rate-limited login. Beyond this many, Locust users share accounts round-robin: a shopper's few
#: checkouts stay far under the per-user rate limit, and a big swarm does not spend a minute hashing.
MAX_SWARM_ACCOUNTS = 50
#: A journey session (searches, pages, recommendations, cart, checkout, with think times) took ~1 s on a
#: quiet stack and ~9 s with the box at load 17 (prime_day_shop's spike, shared machine); its pool is this
#: many users per session/s at the peak (Little's law, room for a slowed stack), capped at
#: MAX_SWARM_ACCOUNTS: each journey user needs an account of its own, since the cart is the account's.
JOURNEY_S_PER_SESSION = 4.0


@dataclass
class Plan:
    run_id: str
    scenario: str
    seed: int
    model: str                    # race | open | closed
    strategy: str
    qty: int
    ttl_s: float
    naive_window_ms: int
    duration_s: float
    think_ms: float
    hot_fraction: float
    zipf_s: float
    hot_skus: int
    cold_skus: int
    sku_prefix: str
    users: int
    spawn_rate: float
    shape: list[tuple[float, float]] = field(default_factory=list)
    target: str = "inventory"
    browsers: int = 0              # Browser users beside the shoppers (gateway only): search, pages, recs
    via: str = "http"
    base_url: str = ""
    out_dir: str = ""
    #: [user id, password] of the accounts made for this run (gateway only): throwaway credentials that live
    #: as long as the run's data, so the plan (sent to every worker) carries them.
    accounts: list[list[str]] = field(default_factory=list)
    #: The inventory's named SQL blocks, as text: SQL-level users run the service's very statements, and a
    #: worker on another machine gets them with the plan (the load generator never imports the shop).
    reserve_sql: str = ""
    #: What Browser users type into search: adjectives, and per category its nouns (the seed's vocabulary).
    search_adjectives: list[str] = field(default_factory=list)
    search_nouns: dict[str, list[str]] = field(default_factory=dict)
    sold_out: str = "auto"         # the inventory's sold-out short-circuit (strategies.SoldOut)
    #: The scenario's `[journey]` (spec.Journey as a dict), or None: a checkout per arrival.
    journey: dict | None = None
    #: A journey buys the seeded shop's SKUs: their names by index (hot last-unit ones first, then the
    #: catalog by popularity rank), read from the shop by the CLI. Empty: the run's own `<prefix>-...` SKUs.
    skus: list[str] = field(default_factory=list)

    def account(self, k: int) -> tuple[str, str]:
        """The k-th Locust user's account (round-robin when there are fewer accounts than users)."""
        user, password = self.accounts[k % len(self.accounts)]
        return user, password

    def sku_name(self, index: int) -> str:
        return self.skus[index] if self.skus else sku_name(self.sku_prefix, index, self.hot_skus)

    def all_skus(self) -> list[str]:
        return [self.sku_name(i) for i in range(self.hot_skus + self.cold_skus)]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        data = dict(data)
        data["shape"] = [tuple(x) for x in data.get("shape", [])]
        return cls(**data)

    @classmethod
    def from_env(cls) -> Plan | None:
        path = os.environ.get(PLAN_ENV)
        return cls.from_dict(json.loads(Path(path).read_text())) if path else None


def sku_name(prefix: str, index: int, hot: int) -> str:
    """Hot SKUs first (`<prefix>-hot-0`...), then the catalog by popularity rank (`<prefix>-c1` is the top)."""
    return f"{prefix}-hot-{index}" if index < hot else f"{prefix}-c{index - hot + 1}"


def default_users(sc: Scenario) -> int:
    if sc.load.model == "race":
        return sc.load.buyers
    if sc.load.model == "closed":
        return sc.load.users
    peak = max((st.rate for st in sc.load.shape), default=1.0)
    if sc.journey is not None:
        return max(1, min(MAX_SWARM_ACCOUNTS, math.ceil(peak * JOURNEY_S_PER_SESSION)))
    return max(1, min(MAX_DEFAULT_POOL, math.ceil(peak * POOL_S_PER_ARRIVAL)))


def make_plan(sc: Scenario, run_id: str, users: int | None = None, spawn_rate: float | None = None,
              via: str = "http", base_url: str = "", out_dir: str = "", browsers: int = 0) -> Plan:
    if via not in VIAS:
        raise ValueError(f"--via {via!r}: choose from {', '.join(VIAS)}")
    n = users or default_users(sc)
    if n < 1:
        raise ValueError("--users: at least 1")
    if browsers and via != "gateway":
        raise ValueError("--browsers: browsing goes through the gateway (add --via gateway)")
    if not 0 <= browsers <= 1000:
        raise ValueError("--browsers: between 0 and 1000")
    if sc.journey is not None and (via != "gateway" or n + browsers > MAX_SWARM_ACCOUNTS):
        raise ValueError(f"a journey goes through the gateway (--via gateway) with at most {MAX_SWARM_ACCOUNTS} "
                         "users and browsers in all (each needs an account, and so a cart, of its own)")
    c = sc.catalog
    return Plan(run_id=run_id, scenario=sc.name, seed=sc.seed, model=sc.load.model,
                strategy=sc.inventory.strategy.value, qty=sc.load.qty, ttl_s=sc.inventory.reservation_ttl_s,
                naive_window_ms=sc.inventory.naive_window_ms, duration_s=sc.load.duration_s,
                think_ms=sc.load.think_ms, hot_fraction=sc.load.hot_fraction, zipf_s=c.zipf_s,
                hot_skus=c.hot_skus, cold_skus=c.skus - c.hot_skus, sku_prefix=run_id, users=n,
                spawn_rate=float(spawn_rate or n), shape=[(st.at_s, st.rate) for st in sc.load.shape],
                via=via, base_url=base_url, out_dir=out_dir, target="gateway" if via == "gateway" else "inventory",
                browsers=browsers, accounts=swarm_accounts(run_id, n + browsers) if via == "gateway" else [],
                sold_out=sc.inventory.sold_out.value,
                journey=asdict(sc.journey) if sc.journey is not None else None)


def swarm_accounts(run_id: str, users: int) -> list[list[str]]:
    """Fresh accounts for a gateway swarm: `<run_id>-u<k>` with random passwords (the CLI creates them)."""
    return [[f"{run_id}-u{k}", secrets.token_urlsafe(16)] for k in range(min(users, MAX_SWARM_ACCOUNTS))]
