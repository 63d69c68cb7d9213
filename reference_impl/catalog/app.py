"""The catalog service: products from the source of truth, search from the index, the relay's lag.

Reads of one product go to the source (a shopper must see the real price); search goes to the index
(eventually consistent, and `/cdc/lag` says how far behind it is).
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reference_impl.catalog import search as S
from reference_impl.catalog.relay import CDC, SLOT
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.jsontypes import Number, rounded
from reference_impl.infra.openapi import errors
from reference_impl.infra.service import lifespan

POOL_SIZE = int(os.environ.get("LAB_CATALOG_POOL", "8"))
SKU_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
SkuPath = Annotated[str, Path(pattern=SKU_PATTERN)]
#: Stripped before the length check: `\S` (one character that is not a space) says so in the document too.
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True, pattern=r"\S")]
#: Prices are kept in cents and ratings in tenths: what is sent is rounded to them (jsontypes.rounded).
Price = rounded(2, 0, 10_000_000, r"^(\d{1,7}(\.\d{1,2})?|10000000(\.0{1,2})?)$")
Filter = Annotated[str | None, Query(min_length=1, max_length=100)]


class ProductBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True, pattern=r"\S")]
    description: str = Field(default="", max_length=10_000)
    brand: Name
    category: Name
    price: Price
    rating: rounded(1, 0, 5, r"^([0-4](\.\d)?|5(\.0)?)$") = Decimal(0)
    images: list[Annotated[str, StringConstraints(pattern=r"^https?://\S{1,500}$")]] = Field(default=[],
                                                                                             max_length=20)
    popularity: Number = Field(default=0, ge=0, le=1e9)


class PriceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    price: Price


app = FastAPI(title="lastunit catalog", lifespan=lifespan("catalog", POOL_SIZE, redis=False))
install_error_handlers(app)


def _jsonable(row) -> dict:
    conv = {Decimal: float, datetime: lambda v: v.isoformat()}
    return {k: conv.get(type(v), lambda x: x)(v) for k, v in dict(row).items()}


@app.get("/healthz")
async def healthz():
    return {"ok": True, "service": "catalog", "pid": os.getpid()}


@app.get("/products/{sku}", responses=errors(404))
async def get_product(sku: SkuPath):
    async with app.state.pool.acquire() as conn:
        row = await S.Q.get_product(conn, sku=sku)
    if row is None:
        raise ApiError(404, "unknown_sku", f"no product {sku!r}")
    return _jsonable(row)


@app.put("/products/{sku}")
async def put_product(sku: SkuPath, body: ProductBody):
    async with app.state.pool.acquire() as conn:
        row = await S.Q.upsert_product(conn, sku=sku, **body.model_dump())
    return _jsonable(row)


@app.put("/products/{sku}/price", responses=errors(404))
async def put_price(sku: SkuPath, body: PriceBody):
    async with app.state.pool.acquire() as conn:
        row = await S.Q.set_price(conn, sku=sku, price=body.price)
    if row is None:
        raise ApiError(404, "unknown_sku", f"no product {sku!r}")
    return _jsonable(row)


@app.delete("/products/{sku}", responses=errors(404))
async def delete_product(sku: SkuPath):
    async with app.state.pool.acquire() as conn:
        n = await S.Q.delete_product(conn, sku=sku)
    if not n:
        raise ApiError(404, "unknown_sku", f"no product {sku!r}")
    return {"deleted": sku}


@app.get("/search")
async def search(q: Annotated[str | None, Query(max_length=200)] = None, brand: Filter = None,
                 category: Filter = None, price_min: Annotated[float | None, Query(ge=0, le=1e7)] = None,
                 price_max: Annotated[float | None, Query(ge=0, le=1e7)] = None,
                 rating_min: Annotated[float | None, Query(ge=0, le=5)] = None,
                 page: Annotated[int, Query(ge=1, le=S.MAX_PAGE)] = 1,
                 size: Annotated[int, Query(ge=1, le=S.MAX_PAGE_SIZE)] = S.PAGE_SIZE):
    """Ranked matches with facets. A price range whose minimum is above its maximum is empty: it finds
    nothing, as BETWEEN would. Pages stop at MAX_PAGE (page * size stays within MAX_RESULT_WINDOW)."""
    if price_min is not None and price_max is not None and price_min > price_max:
        price_max = price_min = -1.0                  # matches no price (prices are >= 0)
    query = S.Query(q, brand, category, price_min, price_max, rating_min, page, size)
    async with app.state.pool.acquire() as conn:
        return await S.search(conn, query)


@app.get("/cdc/lag")
async def lag():
    """How far the index trails the source: WAL bytes unconsumed, and commit-to-index delay."""
    async with app.state.pool.acquire() as conn:
        row = await CDC.lag(conn, slot=SLOT)
    if row is None:
        raise ApiError(503, "unavailable", f"no replication slot {SLOT!r} yet: is the relay running?")
    return _jsonable(row)
