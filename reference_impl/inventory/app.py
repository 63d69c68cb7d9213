"""The inventory service's HTTP API. Pools open in `lifespan`, never at import (uvicorn imports us first)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from reference_impl.infra.body_limit import BodyLimit
from reference_impl.infra.fastlane import FastLane, Route, response
from reference_impl.infra.http import ApiError, DropReply, install_error_handlers
from reference_impl.infra.jsontypes import Number, Sku, StrategyName, Timestamp, WholeNumber
from reference_impl.infra.openapi import UuidPath, errors
from reference_impl.infra.run_config import RunConfig
from reference_impl.infra.service import lifespan, until_due
from reference_impl.inventory import lifecycle
from reference_impl.inventory.desk import Desk
from reference_impl.inventory.groups_api import router as groups_router
from reference_impl.inventory.redis_mirror import RedisMirror
from reference_impl.inventory.reserve import Ask, UnknownStock
from reference_impl.inventory.returns import listen_forever
from reference_impl.inventory.soldout import SoldOutMemory
from scenarios.faults import FaultPoint
from scenarios.policy import INVENTORY_POOL_SIZE as POOL_SIZE
from scenarios.policy import SWEEP_INTERVAL_S
from scenarios.strategies import NAIVE_WINDOW_MS, SoldOut, Starved, Strategy, parse, parse_sold_out

#: No real basket holds more of one SKU; larger asks are typos or attacks.
MAX_QTY = 10_000
DEFAULT_TTL_S = 900.0

Warehouse = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReserveBody(Strict):
    sku: Sku
    qty: WholeNumber = Field(ge=1, le=MAX_QTY)
    warehouse: Warehouse | None = None
    strategy: StrategyName | None = None
    attempt_id: str | None = Field(default=None, min_length=1, max_length=200)
    ttl_s: Number = Field(default=DEFAULT_TTL_S, gt=0, le=7 * 86400)
    naive_window_ms: WholeNumber = Field(default=NAIVE_WINDOW_MS, ge=0, le=5000)
    naive_race: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")
    naive_racers: WholeNumber = Field(default=0, ge=0, le=1_000_000)
    sold_out: SoldOut | None = None    # the sold-out short-circuit; None: the strategy's default

    @field_validator("sold_out", mode="before")
    @classmethod
    def _mode(cls, v):
        return parse_sold_out(v) if isinstance(v, str) else v


class ReceiptBody(Strict):
    sku: Sku
    warehouse: Warehouse
    qty: WholeNumber = Field(ge=1, le=1_000_000_000)


class SweepBody(Strict):
    as_of: Timestamp | None = None


def _start(app: FastAPI) -> list:
    """The reservation desk and its sold-out memory, the TTL sweeper, and the LISTEN that reopens a SKU."""
    app.state.mirror = RedisMirror(app.state.redis)
    app.state.faults = RunConfig(app.state.redis, "inventory")
    app.state.default_strategy = parse(os.environ.get("LAB_INVENTORY_STRATEGY", "guarded"))
    memory = SoldOutMemory()
    app.state.desk = Desk(app.state.pool, app.state.mirror, memory)
    app.state.sweeper = lifecycle.Sweeper(app.state.pool, app.state.mirror)
    return [app.state.faults.watch(), until_due(app.state.sweeper.round, app.state.sweeper.wake, "inventory sweeper", floor_s=SWEEP_INTERVAL_S),
            listen_forever(app.state.dsn, memory)]


async def _stop(app: FastAPI) -> None:
    await app.state.desk.close()


app = FastAPI(title="lastunit inventory", lifespan=lifespan("inventory", POOL_SIZE, _start, _stop, warm=True))
install_error_handlers(app)
app.include_router(groups_router)     # reservations of several lines, all-or-nothing (groups_api.py)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"reservation id {value!r} is not a UUID") from None


@app.get("/ping")
async def ping():
    """Alive, without a database round trip: the race opens each buyer's connection with it, and a test
    with several processes behind one port reads which process answered."""
    return {"ok": True, "pid": os.getpid()}


@app.get("/healthz")
async def healthz():
    async with app.state.pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return {"ok": True, "service": "inventory", "pid": os.getpid()}


@app.post("/stock/receipts", status_code=201)
async def receive(body: ReceiptBody):
    async with app.state.pool.acquire() as conn:
        kind = await lifecycle.receive(conn, body.sku, body.warehouse, body.qty, app.state.mirror)
    return {"sku": body.sku, "warehouse": body.warehouse, "qty": body.qty, "kind": kind}


@app.get("/stock/{sku}", responses=errors(404))
async def stock(sku: str):
    async with app.state.pool.acquire() as conn:
        rows = [r async for r in lifecycle.Q.stock_of(conn, sku=sku)]
    if not rows:
        raise ApiError(404, "unknown_sku", f"no stock for SKU {sku!r}")
    return {"sku": sku, "warehouses": [dict(r) for r in rows]}


async def reserve_answer(body: ReserveBody) -> tuple[int, dict]:
    """POST /reservations as (status, payload): the FastAPI route and the fast lane both answer with it."""
    strategy = Strategy(body.strategy) if body.strategy else app.state.default_strategy
    ask = Ask(sku=body.sku, qty=body.qty, strategy=strategy, warehouse=body.warehouse,
              attempt_id=body.attempt_id, ttl_s=body.ttl_s, naive_window_ms=body.naive_window_ms,
              naive_race=body.naive_race, naive_racers=body.naive_racers, sold_out=body.sold_out)
    try:
        result = await app.state.desk.reserve(ask)
    except UnknownStock:
        async with app.state.pool.acquire() as conn:
            await _raise_unknown(conn, body)
    except Starved as exc:
        raise ApiError(503, exc.reason, f"gave up after {exc.retries} retries on a hot row",
                       retries=exc.retries) from None
    if result.reservation is None:
        raise ApiError(409, "out_of_stock", f"not enough {body.sku!r} for qty {body.qty}",
                       retries=result.retries, from_memory=result.from_memory)
    app.state.sweeper.saw(result.reservation.get("expires_at"))
    payload = _jsonable(result.reservation) | {"strategy": strategy.value, "replayed": result.replayed}
    return (200 if result.replayed else 201), payload


@app.post("/reservations", status_code=201, responses=errors(404, 409)
          | {200: {"description": "A replay: this attempt_id already reserved; the reservation as it stands"}})
async def make_reservation(body: ReserveBody):
    return response(await reserve_answer(body))


async def _raise_unknown(conn, body: ReserveBody):
    if body.warehouse and not await lifecycle.Q.warehouse_exists(conn, warehouse=body.warehouse):
        raise ApiError(404, "unknown_warehouse", f"no warehouse {body.warehouse!r}")
    where = f" in warehouse {body.warehouse!r}" if body.warehouse else ""
    raise ApiError(404, "unknown_sku", f"no stock for SKU {body.sku!r}{where}")


async def reservation_answer(reservation_id: str) -> tuple[int, dict]:
    """GET /reservations/{id}, for the FastAPI route and the fast lane."""
    async with app.state.pool.acquire() as conn:
        row = await lifecycle.Q.get_reservation(conn, id=_uuid(reservation_id))
    if row is None:
        raise ApiError(404, "unknown_reservation", f"no reservation {reservation_id}")
    return 200, _jsonable(dict(row))


@app.get("/reservations/{reservation_id}", responses=errors(400, 404))
async def get_reservation(reservation_id: UuidPath):
    return response(await reservation_answer(reservation_id))


async def settle_answer(reservation_id: str, action: str) -> tuple[int, dict]:
    """POST /reservations/{id}/commit or /release, for the FastAPI routes and the fast lane."""
    rid = _uuid(reservation_id)
    drop = action == "commit" and await app.state.faults.at(FaultPoint.INVENTORY_BEFORE_COMMIT, defer_drop=True)
    async with app.state.pool.acquire() as conn:
        try:
            done = await lifecycle.settle(conn, rid, action, app.state.mirror)
        except Exception as exc:   # a CHECK violation: the counters were already corrupt (a control's row)
            if type(exc).__name__ != "CheckViolationError":
                raise
            raise ApiError(409, "stock_inconsistent", f"cannot {action}: stock counters disagree") from None
        row = done if done is not None else await lifecycle.Q.get_reservation(conn, id=rid)
    if row is None:
        raise ApiError(404, "unknown_reservation", f"no reservation {reservation_id}")
    if drop:
        raise DropReply(reservation_id)   # sold, but the caller never hears it: its retry must be harmless
    want = "committed" if action == "commit" else "released"
    if done is None and row["group_id"] is not None:
        raise ApiError(409, "in_group", f"reservation is a line of group {row['group_id']}: settle the group "
                       f"(POST /reservation-groups/{row['group_id']}/{action})", group_id=str(row["group_id"]))
    if done is None and row["state"] != want:   # idempotent: repeating the same settlement is fine
        raise ApiError(409, "not_held", f"reservation is {row['state']}, cannot {action}", state=row["state"])
    return 200, _jsonable(dict(row))


@app.post("/reservations/{reservation_id}/commit", responses=errors(400, 404, 409))
async def commit(reservation_id: UuidPath):
    return response(await settle_answer(reservation_id, "commit"))


@app.post("/reservations/{reservation_id}/release", responses=errors(400, 404, 409))
async def release(reservation_id: UuidPath):
    return response(await settle_answer(reservation_id, "release"))


@app.post("/admin/sweep")
async def sweep_now(body: SweepBody | None = None):
    as_of = (body.as_of if body and body.as_of else datetime.now(UTC))
    async with app.state.pool.acquire() as conn:
        n = await lifecycle.sweep(conn, as_of, app.state.mirror)
    return {"expired": n}


def _jsonable(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        out[k] = str(v) if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v
    return out


#: What uvicorn serves: the checkout's routes on the fast lane (infra/fastlane.py), everything else through
#: FastAPI; the body cap in front of both, as FastAPI has it in front of its routes.
asgi = BodyLimit(FastLane(app, [
    Route("POST", "/reservations", lambda call: reserve_answer(call.body), body=ReserveBody),
    Route("GET", "/reservations/{reservation_id}", lambda call: reservation_answer(call.params["reservation_id"])),
    Route("POST", "/reservations/{reservation_id}/commit",
          lambda call: settle_answer(call.params["reservation_id"], "commit")),
    Route("POST", "/reservations/{reservation_id}/release",
          lambda call: settle_answer(call.params["reservation_id"], "release")),
]))
