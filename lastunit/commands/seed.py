"""`lastunit seed`: generate a catalog and an order history, load them, wait for search, build recs; and
the accounts a person logs in with (user-1 .. user-N, passwords in the lab's users.json)."""

from __future__ import annotations

import json
import sys

from reference_impl import stack
from reference_impl.gateway import users
from reference_impl.recommendation import batch
from reference_impl.seed import catalog, load, orders
from reference_impl.seed import stock as stocking


def main(args) -> int:
    if args.size < 1 or args.orders < 0 or args.users < 0:
        raise ValueError("--size must be at least 1, --orders and --users not negative")
    pg, redis_url = stack.server_url("postgres"), stack.server_url("redis")
    say = (lambda *a: None) if args.json else (lambda msg: print(msg, file=sys.stderr))
    products = catalog.generate(args.size, args.seed)
    history = orders.generate(products, args.orders, args.seed)
    shelves = stocking.plan(products, args.stock, args.warehouses, args.last_unit)
    say(f"generated {len(products)} products, {args.orders} orders ({len(history)} lines)")
    load_s = load.load_products(pg, products, None if args.json else
                                (lambda n, total: print(f"\r  loaded {n}/{total}", end="", file=sys.stderr)))
    say("")
    lag_s, behind = load.wait_indexed(pg, args.wait_s)
    stocked = stocking.stock(pg, shelves)
    say(f"stocked {stocked} new (sku, warehouse) rows in {args.warehouses} warehouse(s), "
        f"{args.last_unit} last-unit SKU(s)")
    path = load.write_history(history, batch.default_history())
    out = {"products": len(products), "orders": args.orders, "order_lines": len(history), "seed": args.seed,
           "load_s": round(load_s, 2), "index_caught_up_s": round(lag_s, 2), "index_behind": behind,
           "history": str(path), "stock_rows": len(shelves), "stock_rows_new": stocked,
           "warehouses": args.warehouses, "last_unit_skus": shelves.loc[shelves["last_unit"], "sku"].tolist()}
    if args.orders and not args.no_recs:
        out["recs"] = batch.build(redis_url, history)
    if args.users:
        accounts, where = users.seed_demo(pg, args.users)
        out |= {"users": len(accounts), "credentials": str(where)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"loaded {out['products']} products in {out['load_s']}s; search caught up "
              f"{out['index_caught_up_s']}s later" + (f" ({behind} still behind!)" if behind else ""))
        print(f"order history: {out['order_lines']} lines in {path}")
        if "recs" in out:
            print(f"recommendations: batch {out['recs']['batch']}, {out['recs']['skus']} SKUs, "
                  f"{out['recs']['pairs']} pairs in {out['recs']['seconds']}s")
        if args.users:
            print(f"accounts: user-1 .. user-{args.users}, passwords in {out['credentials']} "
                  "(POST /auth/token with user_id and password)")
    return 0 if behind == 0 else 1
