"""The recommendation read path: the precomputed batch from Redis, blended with the user's recent clicks.

Every answer says how old the batch is (`freshness.age_s`): a stale batch is a fact to show, not to hide.
With no batch built yet the answer is an empty list and `freshness.batch = null`, not an error: a shop
page must render without recommendations.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from reference_impl.infra.http import install_error_handlers
from reference_impl.infra.service import lifespan
from reference_impl.recommendation import store
from reference_impl.recommendation.blend import blend

SKU = r"^[A-Za-z0-9._:-]{1,128}$"
USER = r"^[A-Za-z0-9._:-]{1,100}$"


class ClickBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Annotated[str, StringConstraints(pattern=USER)]
    sku: Annotated[str, StringConstraints(pattern=SKU)]


app = FastAPI(title="lastunit recommendation", lifespan=lifespan())
install_error_handlers(app)


@app.get("/healthz")
async def healthz():
    return {"ok": True, "service": "recommendation", "pid": os.getpid()}


@app.get("/recs/status")
async def status():
    return {"freshness": store.decode_meta(await app.state.redis.hgetall(store.META)) or {"batch": None}}


@app.get("/recs")
async def recs(sku: Annotated[str | None, Query(pattern=SKU)] = None,
               user_id: Annotated[str | None, Query(pattern=USER)] = None,
               limit: Annotated[int, Query(ge=1, le=50)] = 10):
    r = app.state.redis
    meta = store.decode_meta(await r.hgetall(store.META))
    clicks = [c.decode() for c in await r.lrange(store.clicks_key(user_id), 0, store.CLICKS_KEPT - 1)] \
        if user_id else []
    wanted = list(dict.fromkeys(([sku] if sku else []) + clicks))
    lists = {}
    if meta and wanted:
        raw = await r.mget([store.list_key(meta["batch"], s) for s in wanted])
        lists = {s: [tuple(p) for p in json.loads(v)] for s, v in zip(wanted, raw, strict=True) if v}
    return {"sku": sku, "user_id": user_id, "recent_clicks": clicks,
            "items": blend(sku, lists, clicks, limit) if meta else [],
            "freshness": meta or {"batch": None}}


@app.post("/clicks", status_code=201)
async def click(body: ClickBody):
    key = store.clicks_key(body.user_id)
    pipe = app.state.redis.pipeline(transaction=True)
    pipe.lrem(key, 0, body.sku)                 # most recent first, each SKU once
    pipe.lpush(key, body.sku)
    pipe.ltrim(key, 0, store.CLICKS_KEPT - 1)
    pipe.expire(key, store.CLICKS_TTL_S)
    await pipe.execute()
    return {"user_id": body.user_id, "sku": body.sku}
