"""The fast lane (reference_impl/infra/fastlane.py) on a small app in-process: a lane route gets its path
parameters, headers and raw body; its answers, errors and 422s read exactly as the FastAPI route's; what it
does not match goes to FastAPI; and a DropReply holds the connection until the caller hangs up, as http.py's
handler does.

The real services' lane routes are exercised through the stack by tests/integration (the saga, the fault
matrix's drop_reply cells) and tests/e2e/test_hostile_stack.py (schemathesis).
"""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from reference_impl.infra.body_limit import BodyLimit
from reference_impl.infra.fastlane import FastLane, Route, response
from reference_impl.infra.http import ApiError, DropReply, install_error_handlers
from scenarios.policy import MAX_BODY_BYTES

app = FastAPI()
install_error_handlers(app)
#: Which side answered each request: the FastAPI route's wrapper or the lane's adapter appends to it.
served: list[str] = []


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(ge=1)


async def thing_answer(thing: str, n: int, key: str | None) -> tuple:
    """The one implementation both sides call."""
    if thing == "missing":
        raise ApiError(404, "unknown_thing", f"no thing {thing!r}", thing=thing)
    if thing == "dropped":
        raise DropReply(thing)
    if thing == "bug":
        raise RuntimeError("a bug")
    return 201, {"thing": thing, "n": n, "key": key}, {"X-Seen": "yes"}


async def signed_answer(raw: bytes, signature: str | None) -> tuple:
    return 200, {"bytes": len(raw), "signature": signature, "raw": raw.decode()}


@app.post("/things/{thing}/count", status_code=201)
async def count(thing: str, body: Body, request: Request):
    served.append("fastapi")
    return response(await thing_answer(thing, body.n, request.headers.get("idempotency-key")))


@app.post("/hooks")
async def hook(request: Request):
    served.append("fastapi")
    return response(await signed_answer(await request.body(), request.headers.get("x-signature")))


def _lane_call(handler):
    async def adapter(call):
        served.append("lane")
        return await handler(call)
    return adapter


lane = BodyLimit(FastLane(app, [
    Route("POST", "/things/{thing}/count",
          _lane_call(lambda c: thing_answer(c.params["thing"], c.body.n, c.header("Idempotency-Key"))), body=Body),
    Route("POST", "/hooks", _lane_call(lambda c: signed_answer(c.raw, c.header("X-Signature"))), raw=True),
]))


def call(asgi, method: str, path: str, **kw) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, **kw)
    served.clear()
    return asyncio.run(go())


def both(method: str, path: str, **kw) -> tuple[httpx.Response, httpx.Response, list[str]]:
    """The same request through FastAPI alone and through the lane; which side answered the lane's."""
    plain = call(app, method, path, **kw)
    laned = call(lane, method, path, **kw)
    return plain, laned, list(served)


def same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    assert a.headers.get("content-type") == b.headers.get("content-type")
    assert a.headers.get("retry-after") == b.headers.get("retry-after")


def test_a_lane_route_gets_its_path_parameter_headers_and_body_and_answers_as_fastapi():
    plain, laned, by = both("POST", "/things/a%20b/count", json={"n": 3}, headers={"Idempotency-Key": "k-1"})
    assert by == ["lane"]
    same(plain, laned)
    assert laned.status_code == 201 and laned.json() == {"thing": "a b", "n": 3, "key": "k-1"}
    assert laned.headers["x-seen"] == "yes"


def test_the_raw_body_reaches_the_handler_byte_for_byte():
    raw = b'{"id": "evt-1",  "data": {"x": 1}}'      # spacing a re-encoding would change: a signature over it
    plain, laned, by = both("POST", "/hooks", content=raw, headers={"X-Signature": "t=1,v1=ab"})
    assert by == ["lane"]
    same(plain, laned)
    assert laned.json() == {"bytes": len(raw), "signature": "t=1,v1=ab", "raw": raw.decode()}


def test_errors_read_as_fastapis():
    for thing, status in (("missing", 404), ("bug", 500)):
        plain, laned, by = both("POST", f"/things/{thing}/count", json={"n": 1})
        assert by == ["lane"] and laned.status_code == status
        same(plain, laned)


def test_an_invalid_body_is_replayed_to_fastapi_for_its_422():
    for kw in ({"json": {"n": 0}}, {"json": {"n": 1, "extra": True}}, {"content": b"{not json",
                                                                        "headers": {"content-type": "application/json"}}):
        plain, laned, by = both("POST", "/things/t/count", **kw)
        assert by == [] and laned.status_code == 422      # FastAPI refused it before any handler ran
        same(plain, laned)


def test_what_the_lane_does_not_match_goes_to_fastapi():
    for method, path in (("POST", "/things//count"), ("POST", "/things/t/count/"), ("GET", "/things/t/count"),
                         ("POST", "/things/t/other")):
        plain, laned, by = both(method, path, json={"n": 1})
        assert "lane" not in by and laned.status_code == plain.status_code
    plain, laned, by = both("POST", "/things/t/count", content=b'{"n": 1}', headers={"content-type": "text/plain"})
    assert "lane" not in by
    same(plain, laned)


def test_the_body_cap_stays_in_front():
    laned = call(lane, "POST", "/hooks", content=b"x" * (MAX_BODY_BYTES + 1))
    assert laned.status_code == 413 and laned.json()["error"] == "payload_too_large" and served == []


async def _dropped(asgi) -> list[dict]:
    """POST /things/dropped/count as a raw ASGI call; the caller hangs up only once the handler has run."""
    hang_up, sent = asyncio.Event(), []
    messages = [{"type": "http.request", "body": b'{"n": 1}', "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/things/dropped/count", "raw_path": b"/things/dropped/count",
             "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json"),
                                                              (b"host", b"t")], "client": None, "server": None}
    served.clear()
    task = asyncio.create_task(asgi(scope, receive, send))
    while not served:                      # the handler has run...
        await asyncio.sleep(0)
    for _ in range(100):                   # ...and the app had every chance to answer: it must not
        await asyncio.sleep(0)
    assert sent == [] and not task.done()
    hang_up.set()
    await task
    return sent


def test_a_dropped_reply_holds_the_connection_until_the_caller_hangs_up():
    for asgi, side in ((app, "fastapi"), (lane, "lane")):
        sent = asyncio.run(_dropped(asgi))
        assert served == [side]
        assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 499
        assert b"".join(m.get("body", b"") for m in sent[1:]) == b""
