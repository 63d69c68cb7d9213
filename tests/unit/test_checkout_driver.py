"""`run`'s checkout driver against answers a database outage produces (issue 12, item 3): a `500
text/plain "Internal Server Error"` made the driver fail to parse it and the run exit 2 with no results.
Now a 5xx or a body that is not JSON is retried with the same key and, if nothing better comes, counted
`unknown`; a Retry-After is honoured. And (item 9) what is still without a verdict is looked up on the
order's status page (GET /checkouts/{key}) until final: resolved late, or `unknown` once the patience is
spent. A local aiohttp server plays the orders service (no lab servers)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from loadtests.checkouts import checkout
from scenarios.policy import CLIENT_RETRIES
from scenarios.results import Outcome
from tests.local_http import serving


async def _drive(answers: list, status_page=None, patience_s: float = 0.0) -> tuple[tuple, list[str]]:
    """One checkout against a server that makes `answers` in turn (the last one again when they run out);
    `status_page()` answers GET /checkouts/{key} (default: the outage's plain-text 500)."""
    keys: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        keys.append(request.headers["Idempotency-Key"])
        return answers[min(len(keys), len(answers)) - 1]()

    async def status(request: web.Request) -> web.Response:
        assert request.match_info["key"] == "run-1-0" and request.headers["X-User-Id"] == "user-0"
        return (status_page or _text_500)()

    async with serving(web.post("/checkouts", handler), web.get("/checkouts/{key}", status)) as base, \
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        got = await checkout(s, base, "run-1-0", "user-0", "sku-1", 1, patience_s=patience_s)
    return got, keys


def _text_500() -> web.Response:
    return web.Response(status=500, text="Internal Server Error", content_type="text/plain")


def test_a_plain_text_500_is_unknown_after_retries_with_the_same_key_not_a_crash():
    (outcome, body, retries, late), keys = asyncio.run(_drive([_text_500]))
    assert outcome is Outcome.UNKNOWN and body == {} and retries == CLIENT_RETRIES - 1 and not late
    assert keys == ["run-1-0"] * CLIENT_RETRIES


def test_an_outage_then_an_answer_is_the_answer():
    def outage():
        return web.json_response({"error": "unavailable", "detail": "database restarting"}, status=503,
                                 headers={"Retry-After": "0"})

    def won():
        return web.json_response({"id": "o-1", "status": "confirmed"}, status=201)

    (outcome, body, retries, late), keys = asyncio.run(_drive([_text_500, outage, won]))
    assert outcome is Outcome.WON and body["id"] == "o-1" and retries == 2 and len(set(keys)) == 1 and not late


def test_a_final_refusal_is_not_retried():
    (outcome, _, retries, _), keys = asyncio.run(_drive([lambda: web.json_response({"error": "invalid_request"},
                                                                                   status=422)]))
    assert outcome is Outcome.FAILED and retries == 0 and len(keys) == 1


def test_a_checkout_left_pending_is_resolved_late_from_its_status_page():
    """202 pending on every try: the client polls the order and records what it became, not `unknown`."""
    def pending():
        return web.json_response({"error": "pending", "detail": "payment did not answer"}, status=202)

    seen = iter([{"id": "o-2", "status": "pending"}, {"id": "o-2", "status": "cancelled",
                                                        "cancel_reason": "out_of_stock"}])

    def page():
        return web.json_response(next(seen, {"id": "o-2", "status": "shipped"}))

    (outcome, body, retries, late), keys = asyncio.run(_drive([pending], page, patience_s=30.0))
    assert (outcome, late, body["id"]) == (Outcome.OUT_OF_STOCK, True, "o-2") and len(set(keys)) == 1


def test_a_checkout_the_shop_never_recorded_is_sent_again_with_its_key():
    """Every try met a service that was down (no answer), and the status page says 404: the shop never
    took it, so the client sends it again with the same key (it could only ever make one order) and keeps
    that answer. Before, it polled the 404 for its whole patience and called the attempt unknown."""
    def down():
        return web.json_response({"error": "unavailable"}, status=503, headers={"Retry-After": "0"})

    def won():
        return web.json_response({"id": "o-3", "status": "confirmed"}, status=201)

    def never_heard_of_it():
        return web.json_response({"error": "not_found"}, status=404)

    answers = [down] * CLIENT_RETRIES + [won]
    (outcome, body, _, late), keys = asyncio.run(_drive(answers, never_heard_of_it, patience_s=30.0))
    assert (outcome, late, body["id"]) == (Outcome.WON, True, "o-3")
    assert keys == ["run-1-0"] * (CLIENT_RETRIES + 1)
