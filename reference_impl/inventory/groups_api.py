"""HTTP for reservations of several lines (an order's basket), all-or-nothing: lines.py and groups.py decide.

POST /reservation-groups               reserve every line or none (201; 200 replaying a known attempt_id)
GET  /reservation-groups/{id}          the group and its lines
POST /reservation-groups/{id}/commit   sell every line together (idempotent)
POST /reservation-groups/{id}/release  give every line back together (idempotent)
GET  /stats                            deadlocks PostgreSQL broke, per strategy and lock order
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from reference_impl.infra.http import ApiError, DropReply
from reference_impl.infra.jsontypes import Number, Sku, StrategyName, WholeNumber
from reference_impl.infra.openapi import UuidPath, errors
from reference_impl.inventory import groups
from reference_impl.inventory.lines import Deadlocked, Line, LinesAsk, Unsupported, reserve_lines
from reference_impl.inventory.reserve import UnknownStock
from scenarios.faults import FaultPoint
from scenarios.policy import OUTAGE_RETRY_AFTER_S
from scenarios.strategies import MAX_LINES, LockOrder, Starved, parse_lock_order

router = APIRouter()
#: Mirrors app.py's bounds for one line (MAX_QTY, the TTL's ceiling); a basket is lines of those.
MAX_QTY = 10_000
SKU = r"^[A-Za-z0-9._:-]+$"


class LineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    qty: WholeNumber = Field(ge=1, le=MAX_QTY)
    warehouse: str | None = Field(default=None, min_length=1, max_length=64, pattern=SKU)


class GroupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[LineBody] = Field(min_length=1, max_length=MAX_LINES)
    strategy: StrategyName | None = None
    lock_order: LockOrder = LockOrder.SORTED
    attempt_id: str | None = Field(default=None, min_length=1, max_length=200)
    ttl_s: Number = Field(default=900.0, gt=0, le=7 * 86400)
    lock_race: str | None = Field(default=None, min_length=1, max_length=200, pattern=SKU)
    lock_racers: WholeNumber = Field(default=0, ge=0, le=1_000_000)

    @field_validator("lock_order", mode="before")
    @classmethod
    def _order(cls, v):
        return parse_lock_order(v) if isinstance(v, str) else v


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"reservation group id {value!r} is not a UUID") from None


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return str(v) if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v


@router.post("/reservation-groups", status_code=201, responses=errors(400, 404, 409)
             | {200: {"description": "A replay: this attempt_id already reserved; the group as it stands"}})
async def reserve_group(body: GroupBody, request: Request):
    state = request.app.state
    skus = [ln.sku for ln in body.lines]
    if len(set(skus)) != len(skus):
        raise ApiError(400, "duplicate_sku", "one line per SKU: merge the quantities of a repeated SKU")
    strategy = body.strategy or state.default_strategy
    ask = LinesAsk([Line(ln.sku, ln.qty, ln.warehouse) for ln in body.lines], strategy, body.lock_order,
                   body.attempt_id, float(body.ttl_s), body.lock_race, body.lock_racers)
    try:
        async with state.pool.acquire() as conn:
            result = await reserve_lines(conn, ask, state.redis)
    except Unsupported as exc:
        raise ApiError(400, "unsupported_for_lines", str(exc), strategy=strategy.value) from None
    except UnknownStock as exc:
        raise ApiError(404, "unknown_sku", f"no stock for {exc.args[0]!r}") from None
    except Deadlocked as exc:
        raise ApiError(503, "deadlock", f"{exc}: nothing was reserved, retry", retryable=True,
                       lock_order=body.lock_order.value, headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)}) from None
    except Starved as exc:
        raise ApiError(503, exc.reason, f"gave up after {exc.retries} retries: nothing was reserved",
                       retries=exc.retries, retryable=True) from None
    if result.group is None:
        short = result.short
        raise ApiError(409, "out_of_stock", f"not enough {short.sku!r} for qty {short.qty}: nothing was reserved",
                       sku=short.sku, qty=short.qty, retries=result.retries)
    payload = _jsonable(result.group) | {"replayed": result.replayed}
    return JSONResponse(payload, status_code=200 if result.replayed else 201)


@router.get("/reservation-groups/{group_id}", responses=errors(400, 404))
async def get_group(group_id: UuidPath, request: Request):
    async with request.app.state.pool.acquire() as conn:
        group = await groups.get_group(conn, _uuid(group_id))
    if group is None:
        raise ApiError(404, "unknown_reservation_group", f"no reservation group {group_id}")
    return _jsonable(group)


async def _settle(group_id: str, action: str, request: Request) -> dict:
    gid = _uuid(group_id)
    state = request.app.state
    drop = action == "commit" and await state.faults.at(FaultPoint.INVENTORY_BEFORE_COMMIT, defer_drop=True)
    async with state.pool.acquire() as conn:
        try:
            await groups.settle_group(conn, gid, action)
        except Exception as exc:   # a CHECK violation: the counters were already corrupt (a control's row)
            if type(exc).__name__ != "CheckViolationError":
                raise
            raise ApiError(409, "stock_inconsistent", f"cannot {action}: stock counters disagree") from None
        group = await groups.get_group(conn, gid)
    if group is None:
        raise ApiError(404, "unknown_reservation_group", f"no reservation group {group_id}")
    if drop and group["state"] == "committed":
        raise DropReply(group_id)   # sold, but the caller never hears it: its retry must be harmless
    if group["state"] != groups.TO_STATE[action]:    # idempotent: repeating the same settlement is fine
        raise ApiError(409, "not_held", f"reservation group is {group['state']}, cannot {action}",
                       state=group["state"])
    return _jsonable(group)


@router.post("/reservation-groups/{group_id}/commit", responses=errors(400, 404, 409))
async def commit_group(group_id: UuidPath, request: Request):
    return await _settle(group_id, "commit", request)


@router.post("/reservation-groups/{group_id}/release", responses=errors(400, 404, 409))
async def release_group(group_id: UuidPath, request: Request):
    return await _settle(group_id, "release", request)


@router.get("/stats")
async def stats(request: Request):
    async with request.app.state.pool.acquire() as conn:
        rows = await groups.deadlock_counts(conn)
    return {"deadlocks": rows, "deadlocks_total": sum(r["deadlocks"] for r in rows)}
