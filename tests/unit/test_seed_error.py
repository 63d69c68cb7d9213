"""A run whose stock the inventory refuses to receive stops with one line, not a traceback (a CI run's swarm
met an inventory whose Redis was restarting and printed the traceback of a bare RuntimeError)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from lastunit import cli
from loadtests.race import SeedError, seed
from tests.local_http import serving


def test_a_refused_receipt_is_a_seed_error_naming_the_answer():
    async def refused(_request):
        return web.json_response({"error": "redis_unavailable", "detail": "Redis is unavailable"}, status=503)

    async def go():
        async with serving(web.post("/stock/receipts", refused)) as base:
            with pytest.raises(SeedError, match="503.*redis_unavailable"):
                await seed(base, "sku-1", 1, 1)
    asyncio.run(go())


def test_the_cli_says_it_in_one_line(monkeypatch, capsys):
    def refuse(_args):
        raise SeedError('seeding sku-1 failed: 503 {"error": "redis_unavailable"}')
    monkeypatch.setattr(cli, "_dispatch", refuse)
    assert cli.main(["audit"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "seeding sku-1 failed: 503" in err
