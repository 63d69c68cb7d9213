"""The HTTP edge every service shares (reference_impl/infra/http.py), on a small app in-process: what any
request gets when the route is wrong, the body too big, a driver raises, or the code has a bug.

The real services, with real outages and real bodies, are tested in tests/e2e (test_hostile_stack.py,
test_http_errors.py); here each rule is pinned without servers.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, Request

from reference_impl.infra.http import install_error_handlers
from reference_impl.infra.jsontypes import Timestamp, WholeNumber
from scenarios.policy import MAX_BODY_BYTES

app = FastAPI()
install_error_handlers(app)


@app.post("/echo")
async def echo(request: Request):
    return {"bytes": len(await request.body())}


@app.get("/things/{thing}")
async def get_thing(thing: str):
    return {"thing": thing}


@app.delete("/things/{thing}")
async def delete_thing(thing: str):
    return {"deleted": thing}


@app.post("/things/special")
async def special():
    return {"special": True}


@app.get("/bug")
async def bug():
    raise RuntimeError("a bug")


@app.get("/refused")
async def refused():
    raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")


@app.post("/typed")
async def typed(n: dict[str, WholeNumber]):
    return n


def call(method: str, path: str, **kw) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
            return await client.request(method, path, **kw)
    return asyncio.run(go())


def test_an_unexpected_exception_is_json_500_naming_it():
    r = call("GET", "/bug")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "internal_error" and "RuntimeError" in r.json()["detail"]


def test_a_refused_connection_is_503_json_with_retry_after():
    r = call("GET", "/refused")
    assert r.status_code == 503 and r.json()["error"] == "dependency_unavailable"
    assert int(r.headers["retry-after"]) >= 1


def test_405_names_every_method_of_the_resource():
    r = call("PATCH", "/things/x")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert set(r.headers["allow"].split(", ")) == {"GET", "DELETE"}
    r = call("OPTIONS", "/things/special")            # the literal route, not the template that also matches
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_a_declared_body_over_the_cap_is_413_json_before_the_route_runs():
    r = call("POST", "/echo", content=b"x" * (MAX_BODY_BYTES + 1))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert call("POST", "/echo", content=b"x" * MAX_BODY_BYTES).json() == {"bytes": MAX_BODY_BYTES}


def test_a_streamed_body_is_counted_and_stopped_at_the_cap():
    async def chunks():
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"y" * 65536
    r = call("POST", "/echo", content=chunks())           # no Content-Length: chunked
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(("value", "ok"), [(3, True), (3.0, True), (3.5, False), (False, False), ("3", False)])
def test_a_whole_number_is_a_json_number_without_a_fraction(value, ok):
    r = call("POST", "/typed", json={"n": value})
    assert r.status_code == (200 if ok else 422), r.text
    assert r.json() == {"n": int(value)} if ok else r.json()["error"] == "invalid_request"


def test_a_timestamp_is_text_with_a_zone():
    from pydantic import TypeAdapter, ValidationError

    ta = TypeAdapter(Timestamp)
    assert ta.validate_python("2030-01-01T00:00:00Z").year == 2030
    for bad in (0, "2030-01-01T00:00:00", "yesterday"):
        with pytest.raises(ValidationError):
            ta.validate_python(bad)
