"""Service times of the model: one number per step, in milliseconds, saved as JSON so they can be fitted.

The defaults are PLACEHOLDERS until `lastunit calibrate` fits them from real runs on this machine. They are
what a 2-core box with PostgreSQL (synchronous_commit off) and a uvicorn service on loopback usually shows;
a figure the model gets wrong by 2x still shows who queues where, but not the absolute throughput.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

#: Every step's time is its mean times a lognormal factor with mean 1 and this coefficient of variation:
#: loopback latencies are right-skewed, never negative, and rarely more than 3x the median.
DEFAULT_CV = 0.3
#: Where `lastunit calibrate` writes by default, under results/ (LAB_RESULTS).
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """Mean time of each step the model charges. Placeholders until calibrated (see module docstring)."""
    http_ms: float = 0.5       # uvicorn's one event loop: parse, validate, route, serialize (CPU, one at a time)
    client_ms: float = 0.0     # the race client's one event loop: send a request and read its reply (CPU)
    driver_ms: float = 0.0     # the service loop's CPU per database or Redis round trip (asyncpg, redis-py)
    network_ms: float = 0.05   # one loopback hop, one way: client->service, service->PostgreSQL or Redis
    latency_ms: float = 0.0    # per request: time that holds no modelled CPU (kernel, network stack); fitted
    win_ms: float = 0.0        # per winning request only: loop CPU of the reservation it returns; fitted
    sql_ms: float = 0.3        # PostgreSQL executing one statement on a hot row by primary key (0.2-0.4 ms)
    commit_ms: float = 0.1     # COMMIT with synchronous_commit off: no fsync wait, just the WAL insert
    redis_ms: float = 0.02     # one command or Lua script on Redis's single thread (EVALSHA of 4 calls ~20 us)
    cv: float = DEFAULT_CV     # spread of every step (see DEFAULT_CV); 0 makes the model deterministic
    strategy_ms: dict = field(default_factory=dict)  # per strategy: loop CPU the step counts miss (fitted)
    fresh_ms: dict = field(default_factory=dict)     # per strategy: a race request's extra delay (measured)
    saga: dict = field(default_factory=dict)         # the saga's step times in seconds (sim.saga.measured)
    source: str = "defaults"   # where the numbers came from: "defaults", or the calibrate run's id
    explain: dict = field(default_factory=dict)      # what calibrate measured and fitted, and how

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.type in ("float", float) and not (isinstance(v, int | float) and v >= 0):
                raise ValueError(f"calibration {f.name}: expected a number >= 0, got {v!r}")
        for name in ("strategy_ms", "fresh_ms"):
            for k, v in getattr(self, name).items():
                if not (isinstance(v, int | float) and v >= 0):
                    raise ValueError(f"calibration {name}[{k!r}]: expected a number >= 0, got {v!r}")
        for k, v in self.saga.items():
            if not k.endswith("_s"):
                continue
            for name, x in (v.items() if isinstance(v, dict) else [(None, v)]):   # cpu_s: seconds per process
                if not (isinstance(x, int | float) and x >= 0):
                    where = f"saga[{k!r}]" + ("" if name is None else f"[{name!r}]")
                    raise ValueError(f"calibration {where}: expected seconds >= 0, got {x!r}")

    def extra_ms(self, strategy: str) -> float:
        return float(self.strategy_ms.get(strategy, 0.0))

    def fresh(self, strategy: str) -> float:
        return float(self.fresh_ms.get(strategy, 0.0))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a saved calibration; a missing field keeps its default, an unknown one is an error."""
        data = json.loads(Path(path).read_text())
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{path}: unknown calibration field {unknown[0]!r} (valid: {', '.join(sorted(names))})")
        return cls(**data)


DEFAULT = Calibration()


def resolve(path: str | Path | None = None) -> Calibration:
    """The calibration a run uses: `path`, else $LAB_CALIBRATION, else results/calibration.json, else DEFAULT.

    Why a default file: `lastunit calibrate` writes it, and from then on every `race --engine sim`,
    `validate` and notebook uses the fitted numbers without being told; delete the file to go back.
    """
    path = path or os.environ.get("LAB_CALIBRATION")
    if path:
        return Calibration.load(path)
    from scenarios.paths import results_home  # noqa: PLC0415 - keep the model import-light

    default = results_home() / CALIBRATION_FILE
    return Calibration.load(default) if default.exists() else DEFAULT
