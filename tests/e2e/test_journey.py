"""The shopping journey as a user types it: `lastunit seed`, `lastunit swarm prime_day_shop --via gateway`,
`lastunit recs build`: the audit is clean, the latencies of search, product pages, recommendations, cart
and checkout are reported side by side, and a pair the swarm bought together is in "also bought" after."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from itertools import combinations
from pathlib import Path

import httpx
import pandas as pd
import pytest

from lastunit.usecases.shop import seeded_skus
from reference_impl import stack
from scenarios.loader import load
from tests.conftest import STACK
from tests.e2e import private_stack as ps
from tests.e2e.test_cli import lastunit
from tests.e2e.test_swarm import swarm

pytestmark = STACK
#: A short swarm, few users (the box has two cores and other tests): enough sessions for ~8 bundles.
SWARM = ("--duration", "15", "--users", "3", "--set", "settle_s=40", "--set", "journey.bundle_share=0.6")
#: Units received for the bundle before the swarm: a kept stack's earlier swarms may have sold it out.
BUNDLE_RESTOCK = 30


@pytest.fixture(scope="module")
def seeded():
    """A stack of this module's own, seeded once: a journey buys the seeded shop's last-unit SKUs, known by
    the units they were first stocked with, and a second `lastunit seed` with other sizes (test_seed_cli's,
    on the same session stack) stocks nothing new, so the journey found too few and exited 2."""
    root = Path(tempfile.mkdtemp(prefix="lastunit-journey-"))
    root.chmod(0o755)
    home = root / ".lab"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAB_HOME", str(home))
        mp.setenv("LAB_RESULTS", str(root / "results"))
        try:
            ps.up(home)
            r = lastunit("seed", "--size", "600", "--orders", "600", "--seed", "31", "--users", "0", "--json")
            assert r.returncode == 0, r.stderr
            yield {name: {"url": stack.service_url(name)} for name in ("inventory", "gateway")}
        finally:
            ps.down(home)


def _restock_bundle(lab) -> tuple[str, str]:
    sc = load("prime_day_shop", ["journey.bundle_share=0.6"])
    skus = seeded_skus(stack.server_url("postgres"), sc)
    first = sc.catalog.hot_skus + sc.journey.bundle_rank - 1
    pair = skus[first], skus[first + 1]
    for sku in pair:
        r = httpx.post(f"{lab['inventory']['url']}/stock/receipts",
                       json={"sku": sku, "warehouse": "wh-1", "qty": BUNDLE_RESTOCK}, timeout=30)
        assert r.status_code == 201, r.text
    return pair


def _bought_together(run_dir: Path) -> Counter:
    """Unordered pairs of SKUs in the same cart checkout whose orders were both won, and how often."""
    df = pd.read_parquet(run_dir / "attempts.parquet")
    won = df[df["outcome"] == "won"].assign(cart=lambda d: d["attempt_id"].str.rsplit(":", n=1).str[0])
    return Counter(pair for skus in won.groupby("cart")["sku"].apply(sorted) for pair in combinations(skus, 2))


@pytest.mark.slow
def test_journey_audits_clean_reports_each_kind_and_feeds_also_bought(seeded):
    lab = seeded
    bundle = tuple(sorted(_restock_bundle(lab)))
    r = swarm("prime_day_shop", "--via", "gateway", *SWARM, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    audit = out["audit"]
    assert audit["ok"] and out["oversold_units"] == 0 and audit["stock_conserved"]
    assert audit["inventory"]["partial_groups"] == 0 and out["unknown"] == 0
    assert audit["double_charges"] == 0 and audit["money_conserved"] and audit["stranded"] == 0
    kinds = {row["kind"]: row for row in out["latency_by_kind"]}
    for kind in ("search", "product", "recommendations", "cart", "checkout"):
        assert kinds[kind]["requests"] > 0 and kinds[kind]["errors"] == 0 and kinds[kind]["p50_ms"] > 0
    run_dir = Path(out["run_dir"])
    table = pd.read_csv(run_dir / "latency_by_kind.csv")
    assert set(kinds) == set(table["kind"]) and len(pd.read_parquet(run_dir / "requests.parquet"))
    pairs = _bought_together(run_dir)
    assert pairs[bundle] > 0, f"the bundle {bundle} was never bought together: {pairs.most_common(3)}"

    built = lastunit("recs", "build", "--json")
    assert built.returncode == 0, built.stderr
    a, b = bundle
    recs = httpx.get(f"{lab['gateway']['url']}/recommendations", params={"sku": a, "limit": 50}, timeout=30)
    also = {item["sku"]: item["count"] for item in recs.json()["items"]}
    assert also.get(b, 0) >= pairs[bundle], f"{b} not in {a}'s also bought: {also}"


@pytest.mark.usefixtures("seeded")
def test_a_shop_too_small_for_the_journey_is_one_line_and_exit_2():
    r = swarm("prime_day_shop", "--via", "gateway", "--set", "catalog.skus=5000000", "--json")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "lastunit seed" in r.stderr, r.stderr


@pytest.mark.parametrize("args", [("--via", "http"), ("--via", "gateway", "--users", "51")])
def test_a_journey_goes_through_the_gateway_one_account_per_user(args):
    r = swarm("prime_day_shop", *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "gateway" in r.stderr, r.stderr
