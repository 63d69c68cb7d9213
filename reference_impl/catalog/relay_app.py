"""The change relay as a supervised process: its own crash and restart are part of what the lab shows.

It is an ASGI app only so the supervisor can run it like every service; the work is the loop in relay.py.
`POST /admin/crash {"point": "after_apply"}` arms a deliberate hard exit at that point of the next batch.
"""

from __future__ import annotations

import os
from typing import Literal

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from reference_impl.catalog.relay import CDC, CRASH_POINTS, Relay
from reference_impl.infra.http import install_error_handlers
from reference_impl.infra.service import lifespan
from reference_impl.infra.settings import database_url


class CrashBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    point: Literal[CRASH_POINTS]   # the points the relay can crash at; any other is a 422


def _start(app: FastAPI) -> list:
    app.state.dsn = database_url(os.environ["LAB_DATABASE_URL"], "catalog")
    app.state.relay = Relay(app.state.dsn)
    return [app.state.relay.run_forever()]


app = FastAPI(title="lastunit catalog relay", lifespan=lifespan(start=_start, redis=False))
install_error_handlers(app)


@app.get("/healthz")
async def healthz():
    return {"ok": True, "service": "catalog_relay", "pid": os.getpid()}


@app.get("/status")
async def status():
    relay: Relay = app.state.relay
    conn = await asyncpg.connect(app.state.dsn)
    try:
        lag = await CDC.lag(conn, slot=relay.slot)
    finally:
        await conn.close()
    out = {"pid": os.getpid(), "slot": relay.slot, "process_batches": relay.batches, "process_changes": relay.changes,
           "last_error": relay.last_error, "crash_armed": relay.crash_at}
    if lag:
        out |= {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(lag).items()}
    return out


@app.post("/admin/crash")
async def arm_crash(body: CrashBody):
    app.state.relay.crash_at = body.point
    return {"armed": body.point, "pid": os.getpid()}
