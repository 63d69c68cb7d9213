"""The inventory service's HTTP API. Pools open in `lifespan`, never at import (uvicorn imports us first)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from reference_impl.infra.db import create_pool
from reference_impl.infra.faults import FaultPoint
from reference_impl.infra.http import ApiError, DropReply, install_error_handlers
from reference_impl.infra.run_config import RunConfig
from reference_impl.infra.service import until_due
from reference_impl.infra.settings import database_url
from reference_impl.inventory import lifecycle
from reference_impl.inventory.redis_mirror import RedisMirror
from reference_impl.inventory.reserve import Ask, Starved, UnknownStock, reserve
from reference_impl.inventory.strategies import NAIVE_WINDOW_MS, Strategy, parse
from reference_impl.policy import INVENTORY_POOL_SIZE as POOL_SIZE
from reference_impl.policy import SWEEP_INTERVAL_S

#: No real basket holds more of one SKU; larger asks are typos or attacks.
MAX_QTY = 10_000
DEFAULT_TTL_S = 900.0

Sku = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
Warehouse = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReserveBody(Strict):
    sku: Sku
    qty: int = Field(ge=1, le=MAX_QTY)
    warehouse: Warehouse | None = None
    strategy: str | None = None
    attempt_id: str | None = Field(default=None, min_length=1, max_length=200)
    ttl_s: float = Field(default=DEFAULT_TTL_S, gt=0, le=7 * 86400)
    naive_window_ms: int = Field(default=NAIVE_WINDOW_MS, ge=0, le=5000)

    @field_validator("strategy")
    @classmethod
    def _known(cls, v):
        return None if v is None else parse(v).value


class ReceiptBody(Strict):
    sku: Sku
    warehouse: Warehouse
    qty: int = Field(ge=1, le=1_000_000_000)


class SweepBody(Strict):
    as_of: datetime | None = None


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await create_pool(database_url(os.environ["LAB_DATABASE_URL"], "inventory"), POOL_SIZE,
                                       warm=True)
    app.state.redis = aioredis.from_url(os.environ["LAB_REDIS_URL"])
    app.state.mirror = RedisMirror(app.state.redis)
    app.state.faults = RunConfig(app.state.redis, "inventory")
    app.state.default_strategy = parse(os.environ.get("LAB_INVENTORY_STRATEGY", "guarded"))
    app.state.sweeper = lifecycle.Sweeper(app.state.pool, app.state.mirror)
    sweeper = asyncio.create_task(until_due(app.state.sweeper.round, app.state.sweeper.wake,
                                            "inventory sweeper", floor_s=SWEEP_INTERVAL_S))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await app.state.pool.close()
        await app.state.redis.aclose()


app = FastAPI(title="lastunit inventory", lifespan=lifespan)
install_error_handlers(app)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"reservation id {value!r} is not a UUID") from None


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


@app.get("/stock/{sku}")
async def stock(sku: str):
    async with app.state.pool.acquire() as conn:
        rows = [r async for r in lifecycle.Q.stock_of(conn, sku=sku)]
    if not rows:
        raise ApiError(404, "unknown_sku", f"no stock for SKU {sku!r}")
    return {"sku": sku, "warehouses": [dict(r) for r in rows]}


@app.post("/reservations", status_code=201)
async def make_reservation(body: ReserveBody):
    strategy = Strategy(body.strategy) if body.strategy else app.state.default_strategy
    ask = Ask(sku=body.sku, qty=body.qty, strategy=strategy, warehouse=body.warehouse,
              attempt_id=body.attempt_id, ttl_s=body.ttl_s, naive_window_ms=body.naive_window_ms)
    async with app.state.pool.acquire() as conn:
        try:
            result = await reserve(conn, ask, app.state.mirror)
        except UnknownStock:
            await _raise_unknown(conn, body)
        except Starved as exc:
            raise ApiError(503, exc.reason, f"gave up after {exc.retries} retries on a hot row",
                           retries=exc.retries) from None
    if result.reservation is None:
        raise ApiError(409, "out_of_stock", f"not enough {body.sku!r} for qty {body.qty}",
                       retries=result.retries)
    app.state.sweeper.saw(result.reservation.get("expires_at"))
    payload = _jsonable(result.reservation) | {"strategy": strategy.value, "replayed": result.replayed}
    return JSONResponse(payload, status_code=200 if result.replayed else 201)


async def _raise_unknown(conn, body: ReserveBody):
    if body.warehouse and not await lifecycle.Q.warehouse_exists(conn, warehouse=body.warehouse):
        raise ApiError(404, "unknown_warehouse", f"no warehouse {body.warehouse!r}")
    where = f" in warehouse {body.warehouse!r}" if body.warehouse else ""
    raise ApiError(404, "unknown_sku", f"no stock for SKU {body.sku!r}{where}")


@app.get("/reservations/{reservation_id}")
async def get_reservation(reservation_id: str):
    async with app.state.pool.acquire() as conn:
        row = await lifecycle.Q.get_reservation(conn, id=_uuid(reservation_id))
    if row is None:
        raise ApiError(404, "unknown_reservation", f"no reservation {reservation_id}")
    return _jsonable(dict(row))


async def _settle(reservation_id: str, action: str):
    rid = _uuid(reservation_id)
    drop = action == "commit" and await app.state.faults.at(FaultPoint.INVENTORY_BEFORE_COMMIT, defer_drop=True)
    async with app.state.pool.acquire() as conn:
        try:
            done = await lifecycle.settle(conn, rid, action, app.state.mirror)
        except Exception as exc:   # a CHECK violation: the counters were already corrupt (a control's row)
            if type(exc).__name__ != "CheckViolationError":
                raise
            raise ApiError(409, "stock_inconsistent", f"cannot {action}: stock counters disagree") from None
        row = await lifecycle.Q.get_reservation(conn, id=rid)
    if row is None:
        raise ApiError(404, "unknown_reservation", f"no reservation {reservation_id}")
    if drop:
        raise DropReply(reservation_id)   # sold, but the caller never hears it: its retry must be harmless
    want = "committed" if action == "commit" else "released"
    if done is None and row["state"] != want:   # idempotent: repeating the same settlement is fine
        raise ApiError(409, "not_held", f"reservation is {row['state']}, cannot {action}", state=row["state"])
    return _jsonable(dict(row))


@app.post("/reservations/{reservation_id}/commit")
async def commit(reservation_id: str):
    return await _settle(reservation_id, "commit")


@app.post("/reservations/{reservation_id}/release")
async def release(reservation_id: str):
    return await _settle(reservation_id, "release")


@app.post("/admin/sweep")
async def sweep_now(body: SweepBody | None = None):
    as_of = (body.as_of if body and body.as_of else datetime.now(UTC))
    if as_of.tzinfo is None:
        raise ApiError(422, "invalid_request", "as_of needs a timezone (e.g. 2026-01-01T00:00:00Z)")
    async with app.state.pool.acquire() as conn:
        n = await lifecycle.sweep(conn, as_of, app.state.mirror)
    return {"expired": n}


def _jsonable(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        out[k] = str(v) if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v
    return out
