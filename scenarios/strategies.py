"""The locking strategies the lab compares: one name, one description, one set of knobs.

This module is the vocabulary the real service (`reserve.py`), the SimPy model and the load tests share.
It imports no driver, so the model can name a strategy without loading asyncpg.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Strategy(StrEnum):
    NAIVE = "naive"
    PESSIMISTIC = "pessimistic"
    OPTIMISTIC = "optimistic"
    GUARDED = "guarded"
    SERIALIZABLE = "serializable"
    REDIS = "redis"
    BATCHED = "batched"


class SoldOut(StrEnum):
    """The sold-out short-circuit: answer `out_of_stock` from memory, without a database round trip, once a
    SKU (or one of its warehouses) is known sold out. Any strategy can sit behind it."""
    AUTO = "auto"      # the strategy's default (`StrategyInfo.sold_out`): on for batched, off for the rest
    ON = "on"          # remembered until units come back (heard by NOTIFY) or SOLD_OUT_MAX_AGE_S passes
    OFF = "off"        # every ask goes to the database
    STALE = "stale"    # the control: remembered forever, never hears units return. The liveness check
                       # (no buyer refused while a unit stood available) must catch it


@dataclass(frozen=True)
class StrategyInfo:
    strategy: Strategy
    control: bool           # expected to break the invariants: the lab's proof that the auditor can see
    lock: str               # what serializes buyers: none, row lock, version CAS, predicate, SSI, Redis
    retries: bool           # whether a conflict is retried (and counted) rather than waited out
    summary: str
    sold_out: bool = False  # the short-circuit's default under SoldOut.AUTO


INFO: dict[Strategy, StrategyInfo] = {s.strategy: s for s in (
    StrategyInfo(Strategy.NAIVE, True, "none", False,
                 "read available, check in the app, write the computed counter back: a lost update"),
    StrategyInfo(Strategy.PESSIMISTIC, False, "row lock", False,
                 "SELECT ... FOR UPDATE, check, increment: buyers queue on the row lock"),
    StrategyInfo(Strategy.OPTIMISTIC, False, "version CAS", True,
                 "read with version, UPDATE ... WHERE version = read version; retry on a miss"),
    StrategyInfo(Strategy.GUARDED, False, "predicate", False,
                 "one UPDATE ... WHERE on_hand - reserved >= qty; READ COMMITTED re-checks after the lock"),
    StrategyInfo(Strategy.SERIALIZABLE, False, "SSI", True,
                 "read, check, increment under SERIALIZABLE; retry on 40001/40P01"),
    StrategyInfo(Strategy.REDIS, False, "redis", False,
                 "atomic Lua check-and-increment in Redis, then reconciled into PostgreSQL"),
    StrategyInfo(Strategy.BATCHED, False, "predicate, once per batch", False,
                 "asks for one SKU and warehouse gathered while the previous batch is in flight; one guarded "
                 "statement grants the batch in arrival order", sold_out=True),
)}

#: Optimistic and serializable give up after this many conflicts and answer `failed` (starvation, counted),
#: rather than spin forever on a hot row: on one hot row SERIALIZABLE took 2.5-14 tries, some over 100.
MAX_RETRIES = 64
#: Full-jitter backoff between retries, capped so a retry storm spreads out without stalling a checkout.
BACKOFF_BASE_S = 0.0005
BACKOFF_CAP_S = 0.02
#: How long a pessimistic buyer waits for the row lock before giving up (a failed attempt, not a hang).
LOCK_TIMEOUT_MS = 10_000
#: The naive control's read-to-write window by default: wide enough that a burst's reads overlap.
NAIVE_WINDOW_MS = 20
#: In a race (the caller names it and its size), the window also lasts until every racer that can be
#: reading at once (the race's size, at most the service's pool) has read: the control then oversells by
#: construction, whatever the machine's speed. Bounded, so a racer whose request never arrived holds the
#: others this long at most: well past the spread of a race's release on a loaded two-core box (a
#: 1000 ms window once missed it), well inside a client's 60 s patience.
NAIVE_BARRIER_MAX_S = 10.0


class Starved(RuntimeError):
    """Retries ran out on a hot row (or the lock wait did): the attempt failed without reserving anything,
    and says so (`failed`, counted) rather than spin forever. Raised by the real service, the SQL-level load
    users and the model alike."""

    def __init__(self, retries: int, reason: str = "retries_exhausted"):
        super().__init__(reason)
        self.retries, self.reason = retries, reason


def parse(name: str) -> Strategy:
    """A Strategy from user text, with the list of valid names in the error."""
    try:
        return Strategy(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(s.value for s in Strategy)})") from None


def safe() -> list[Strategy]:
    return [s for s in Strategy if not INFO[s].control]


def sold_out_mode(strategy: Strategy, mode: SoldOut | str | None) -> SoldOut:
    """The short-circuit a request gets: its explicit mode, else its strategy's default (never AUTO)."""
    mode = SoldOut(mode) if mode else SoldOut.AUTO
    if mode is SoldOut.AUTO:
        return SoldOut.ON if INFO[strategy].sold_out else SoldOut.OFF
    return mode


def parse_sold_out(name: str) -> SoldOut:
    try:
        return SoldOut(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown sold_out mode {name!r} (choose from {', '.join(m.value for m in SoldOut)})") from None
