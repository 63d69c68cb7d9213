"""A run whose stock the inventory refuses to receive stops with one line, not a traceback (a CI run's swarm
met an inventory whose Redis was restarting and printed the traceback of a bare RuntimeError)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from lastunit import cli
from loadtests.race import SeedError, seed


def test_a_refused_receipt_is_a_seed_error_naming_the_answer():
    async def refused(_request):
        return web.json_response({"error": "redis_unavailable", "detail": "Redis is unavailable"}, status=503)

    async def go():
        app = web.Application()
        app.router.add_post("/stock/receipts", refused)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(SeedError, match="503.*redis_unavailable"):
                await seed(f"http://127.0.0.1:{port}", "sku-1", 1, 1)
        finally:
            await runner.cleanup()
    asyncio.run(go())


def test_the_cli_says_it_in_one_line(monkeypatch, capsys):
    def refuse(_args):
        raise SeedError('seeding sku-1 failed: 503 {"error": "redis_unavailable"}')
    monkeypatch.setattr(cli, "_dispatch", refuse)
    assert cli.main(["audit"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "seeding sku-1 failed: 503" in err
