"""`lastunit seed` and `lastunit recs` as a user types them, on a small catalog (the 100,000-SKU run is
`lastunit seed --size 100000`, by hand)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest

from tests.conftest import STACK
from tests.e2e.test_cli import lastunit


@pytest.mark.parametrize("args", [("seed", "--size", "0"), ("seed", "--size", "many"), ("seed", "--users", "-1"),
                                  ("seed", "--stock", "5,x"), ("seed", "--stock", "3,1", "--warehouses", "3"),
                                  ("seed", "--stock", "0"), ("recs", "rebuild"), ("recs", "build", "--top", "0"),
                                  ("recs", "build", "--history", "h.csv", "--full"),
                                  ("recs", "build", "--history", "/nonexistent/history.parquet")])
def test_bad_input_is_one_line_and_exit_2(args):
    r = lastunit(*args)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("verb", ["seed", "recs"])
def test_help(verb):
    r = lastunit(verb, "--help")
    assert r.returncode == 0 and "usage" in r.stdout


@pytest.mark.requires_pg
@pytest.mark.requires_redis
@pytest.mark.usefixtures(*STACK[2].args)
def test_seed_loads_indexes_and_builds_recs():
    r = lastunit("seed", "--size", "300", "--orders", "600", "--seed", "5", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["products"] == 300 and out["index_behind"] == 0 and out["recs"]["skus"] > 0
    r = lastunit("recs", "status", "--json")
    fresh = json.loads(r.stdout)["freshness"]
    assert fresh["batch"] == out["recs"]["batch"] and fresh["age_s"] >= 0


@pytest.mark.requires_pg
@pytest.mark.requires_redis
def test_seed_makes_accounts_one_can_log_in_with(lab):
    r = lastunit("seed", "--size", "20", "--orders", "0", "--users", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    creds = Path(out["credentials"])
    assert out["users"] == 3 and creds.stat().st_mode & 0o777 == 0o600
    accounts = json.loads(creds.read_text())
    assert sorted(accounts) == ["user-1", "user-2", "user-3"]
    gw = lab["gateway"]["url"]
    ok = httpx.post(f"{gw}/auth/token", json={"user_id": "user-2", "password": accounts["user-2"]})
    assert ok.status_code == 200 and ok.json()["token"]
    assert httpx.post(f"{gw}/auth/token", json={"user_id": "user-2", "password": accounts["user-1"]}).status_code == 401

@pytest.mark.requires_pg
@pytest.mark.requires_redis
@pytest.mark.usefixtures(*STACK[2].args)
def test_seed_reports_its_stock():
    r = lastunit("seed", "--size", "200", "--orders", "0", "--seed", "11", "--stock", "3", "--warehouses", "2",
                 "--last-unit", "2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["last_unit_skus"]) == 2 and out["stock_rows"] == 2 + 198 * 2 and out["warehouses"] == 2


@pytest.mark.requires_pg
@pytest.mark.requires_redis
def test_a_seeded_user_buys_a_seeded_sku_at_its_catalog_price(lab):
    """Catalog, stock per warehouse, accounts: a seeded shop is buyable as it stands, at the catalog's price."""
    r = lastunit("seed", "--size", "40", "--orders", "0", "--seed", "17", "--stock", "4,2", "--last-unit", "1",
                 "--users", "2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["warehouses"] == 2 and out["units_per_warehouse"] == [4, 2] and out["stock_rows"] == 1 + 39 * 2
    hot, = out["last_unit_skus"]
    gw = lab["gateway"]["url"]
    password = json.loads(Path(out["credentials"]).read_text())["user-2"]
    token = httpx.post(f"{gw}/auth/token", json={"user_id": "user-2", "password": password}).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    sku = next(s for s in (f"SKU-{i:06d}" for i in range(1, 41)) if s != hot and _available(lab, s))
    price = httpx.get(f"{gw}/products/{sku}").json()["price"]
    assert httpx.put(f"{gw}/carts/user-2/items/{sku}", json={"qty": 1}, headers=h).status_code == 200
    co = httpx.post(f"{gw}/checkout/cart", headers=h | {"Idempotency-Key": f"seeded-{secrets.token_hex(4)}"},
                    timeout=30)
    assert co.status_code == 201, co.text
    assert co.json()["amount"] == round(price * 100) == co.json()["order"]["amount"]


def _available(lab, sku: str) -> int:
    """Units left (earlier runs on a kept stack may have bought some; a second seed adds none)."""
    shelf = httpx.get(f"{lab['inventory']['url']}/stock/{sku}", timeout=10).json()["warehouses"]
    return sum(w["available"] for w in shelf)
