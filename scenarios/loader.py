"""Turns TOML (plus `--set` overrides) into a validated `Scenario`; every error is one readable line."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from scenarios import nemesis as nem
from scenarios.faults import FaultAction, FaultPoint, applies
from scenarios.spec import (
    BOUNDS,
    LOAD_MODELS,
    MAX_ARRIVALS,
    SCENARIO_DIR,
    Fault,
    Scenario,
    ScenarioError,
    Stage,
)
from scenarios.strategies import LINE_STRATEGIES, Strategy

#: A random nemesis beyond this many kills in one run is a stack that never stands up, not a test of it.
MAX_RANDOM_NEMESIS = 100


def resolve(name_or_path: str) -> Path:
    """A path, or the name of a bundled scenario (`last_unit_race` finds scenarios/last_unit_race.toml)."""
    p = Path(name_or_path)
    for cand in (p, SCENARIO_DIR / p, SCENARIO_DIR / f"{p}.toml"):
        if cand.is_file():
            return cand
    bundled = ", ".join(sorted(x.stem for x in SCENARIO_DIR.glob("*.toml")))
    raise ScenarioError(f"no scenario {name_or_path!r} (a .toml path, or one of: {bundled})")


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. inventory.strategy=naive")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw   # bare words are strings: strategy=naive
    return key.strip().split("."), value


def _apply(data: dict, path: list[str], value: Any, where: str) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ScenarioError(f"{where}: {'.'.join(path)} is not a table")
    node[path[-1]] = value


def _convert(value: Any, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):      # `X | None`: TOML has no null, so always an X
        (inner,) = [a for a in typing.get_args(typ) if a is not type(None)]
        return _convert(value, inner, key)
    if dataclasses.is_dataclass(typ):
        return _build(typ, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ScenarioError(f"{key}: expected a list")
        (item,) = typing.get_args(typ)
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(typ, type) and issubclass(typ, Enum):
        try:
            return typ(str(value).lower())
        except ValueError:
            raise ScenarioError(f"{key}: unknown {typ.__name__} {value!r} "
                                f"(choose from {', '.join(m.value for m in typ)})") from None
    if typ is bool and not isinstance(value, bool):
        raise ScenarioError(f"{key}: expected true or false, got {value!r}")
    if typ in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ScenarioError(f"{key}: expected a number, got {value!r}")
    if typ in (int, float) and isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(f"{key}: expected a finite number, got {value!r}")
    if typ is int and isinstance(value, float) and not value.is_integer():
        raise ScenarioError(f"{key}: expected a whole number, got {value!r}")
    if typ is str and not isinstance(value, str):
        raise ScenarioError(f"{key}: expected text, got {value!r}")
    return typ(value) if typ in (int, float) else value


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ScenarioError(f"{prefix or 'scenario'}: expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ScenarioError(f"{prefix + '.' if prefix else ''}{unknown[0]}: unknown key "
                            f"(valid: {', '.join(sorted(names - {'source'}))})")
    kwargs = {k: _convert(v, hints[k], f"{prefix + '.' if prefix else ''}{k}") for k, v in data.items()}
    for k, v in kwargs.items():
        _bounded(f"{cls.__name__}.{k}", v, f"{prefix + '.' if prefix else ''}{k}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        missing = str(exc).split("argument")[-1].strip(": '")
        raise ScenarioError(f"{prefix or 'scenario'}: missing {missing}") from None


def _bounded(field: str, value: Any, key: str) -> None:
    """A number outside its named bound (spec.BOUNDS) is refused with the bound and the key as typed."""
    if field not in BOUNDS or isinstance(value, bool):
        return
    low, high = BOUNDS[field]
    if not low <= value <= high:
        raise ScenarioError(f"{key}: {value!r} is out of bounds (between {_num(low)} and {_num(high)})")


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def expected_arrivals(shape: list[Stage], duration_s: float) -> float:
    """The integral of the piecewise-linear rate over [0, duration_s) (flat before the first stage and after
    the last, as arrivals.rate_at): how many checkouts an open run will draw, on average."""
    if not shape:
        return 0.0
    pts = [(0.0, shape[0].rate)] + [(st.at_s, st.rate) for st in shape] + [(max(duration_s, shape[-1].at_s),
                                                                            shape[-1].rate)]
    total = 0.0
    for (t0, r0), (t1, r1) in zip(pts, pts[1:], strict=False):
        a, b = max(t0, 0.0), min(t1, duration_s)
        if b > a and t1 > t0:
            ra = r0 + (r1 - r0) * (a - t0) / (t1 - t0)
            rb = r0 + (r1 - r0) * (b - t0) / (t1 - t0)
            total += (ra + rb) / 2 * (b - a)
    return total


def _check(s: Scenario) -> None:
    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise ScenarioError(msg)

    c, ld = s.catalog, s.load      # each number is within its own bound already (spec.BOUNDS, _bounded)
    need(c.hot_skus <= c.skus, "catalog.hot_skus: between 0 and catalog.skus")
    need(ld.model in LOAD_MODELS, f"load.model: {ld.model!r} is not one of {', '.join(LOAD_MODELS)}")
    at = [st.at_s for st in ld.shape]
    need(at == sorted(at), "load.shape: stages in time order")
    need(ld.model != "open" or bool(ld.shape), "load.shape: an open model needs at least one stage")
    if ld.model == "open":
        n = expected_arrivals(ld.shape, ld.duration_s)
        need(n <= MAX_ARRIVALS, f"load.shape: about {n:,.0f} arrivals over load.duration_s={ld.duration_s:g}; "
             f"at most {MAX_ARRIVALS:,} (MAX_ARRIVALS): lower the rates or the duration")
    need(ld.lines == 1 or s.inventory.strategy in LINE_STRATEGIES,
         f"load.lines: {s.inventory.strategy.value} reserves one line at a time; several lines need one of "
         f"{', '.join(x.value for x in LINE_STRATEGIES)}")
    need(ld.lines == 1 or ld.model == "race", "load.lines: several lines per buyer are raced only (load.model = race)")
    if s.journey is not None:
        _check_journey(s, need)
    for i, f in enumerate(s.faults):
        need(applies(f.point, f.action), f"faults[{i}]: {f.action} does not apply at {f.point}")
    for i, n in enumerate(s.nemesis):
        _check_nemesis(n, f"nemesis[{i}]", ld.duration_s, need)


def _check_journey(s: Scenario, need) -> None:
    j, c = s.journey, s.catalog
    need(s.load.model == "open", "journey: sessions arrive at the shape's rates (load.model = \"open\")")
    need(j.bundle_share == 0 or j.lines >= 3, "journey.lines: at least 3 with a bundle (the pick and the pair)")
    need(j.bundle_share == 0 or j.bundle_rank + 1 <= c.skus - c.hot_skus,
         f"journey.bundle_rank: the pair needs ranks {j.bundle_rank} and {j.bundle_rank + 1} among the "
         f"{c.skus - c.hot_skus} non-hot catalog SKUs")


def _check_nemesis(n, where: str, duration_s: float, need) -> None:
    targets = ", ".join(nem.TARGETS)
    if n.random is not None:
        need(n.at_s is None and n.target is None and n.action is None,
             f"{where}: either random = {{count, seed}} or at_s and target, not both")
        need(1 <= n.random.count <= MAX_RANDOM_NEMESIS, f"{where}.random.count: between 1 and {MAX_RANDOM_NEMESIS}")
        need(n.random.seed >= 0, f"{where}.random.seed: a whole number >= 0")
        bad = [t for t in n.random.targets if t not in nem.TARGETS]
        need(not bad, f"{where}.random.targets: unknown target {bad[0]!r} (choose from {targets})" if bad else "")
        return
    need(n.at_s is not None and n.target is not None,
         f"{where}: needs at_s and target (or random = {{count = N, seed = S}})")
    need(n.target in nem.TARGETS, f"{where}.target: unknown target {n.target!r} (choose from {targets})")
    need(0 <= n.at_s < duration_s, f"{where}.at_s: while the load runs, 0 <= at_s < load.duration_s ({duration_s:g})")
    need(n.action is None or nem.applies(n.target, n.action),
         f"{where}.action: {n.target} takes {nem.default_action(n.target)}, not {n.action}")


def load(name_or_path: str, overrides: list[str] | tuple = ()) -> Scenario:
    path = resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from None
    for text in overrides:
        keys, value = parse_override(text)
        _apply(data, keys, value, f"--set {text}")
    try:
        scenario = _build(Scenario, data, "")
        _check(scenario)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None
    scenario.source = str(path)
    return scenario


__all__ = ["load", "resolve", "parse_override", "ScenarioError", "Scenario", "Fault", "Stage", "MAX_RANDOM_NEMESIS",
           "Strategy", "FaultPoint", "FaultAction"]
