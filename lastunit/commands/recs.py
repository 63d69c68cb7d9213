"""`lastunit recs build | status`: the batch job that precomputes "also bought", and its freshness.

`build` reads the shop's paid orders since its last build (batch.py says how the two sources combine);
`build --history FILE` builds from a file of order lines instead."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import redis

from reference_impl import stack
from reference_impl.recommendation import batch, state, store


def _build(args, redis_url: str) -> dict:
    if args.history:
        path = Path(args.history)
        return batch.build(redis_url, batch.read_history(path), args.top, source=str(path))
    return batch.build_from_orders(redis_url, stack.server_url("postgres"), args.top, full=args.full)


def _summary(out: dict) -> str:
    head = f"batch {out['batch']}: {out['orders']} orders -> {out['skus']} SKUs, {out['pairs']} pairs"
    if out["source"] != "orders":
        return f"{head} from {out['source']} in {out['seconds']}s"
    since = f"since {out['since']}" if out["since"] else "every one (no watermark yet)"
    verb = "published" if out["published"] else "unchanged, kept"
    return (f"{head} ({verb}): read {out['lines_read']} paid order line(s), {since}; {out['baskets_changed']} "
            f"basket(s) changed; in {out['seconds']}s")


def main(args) -> int:
    redis_url = stack.server_url("redis")
    if args.action == "build":
        if args.top < 1:
            raise ValueError("--top must be at least 1")
        if args.history and args.full:
            raise ValueError("--full rereads the orders database; a --history build always starts over")
        try:
            out = _build(args, redis_url)
        except (batch.NoOrders, state.BuildRunning) as exc:
            print(f"lastunit recs: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(_summary(out))
        return 0
    r = redis.from_url(redis_url)
    try:
        meta = store.decode_meta(r.hgetall(store.META))
    finally:
        r.close()
    if args.json:
        print(json.dumps({"freshness": meta or {"batch": None}}, indent=2))
    elif meta:
        print(f"batch {meta['batch']}: built {meta['age_s']:.0f}s ago from {meta['orders']} orders, "
              f"{meta['skus']} SKUs")
    else:
        print("no batch built yet: run `lastunit recs build` (after `lastunit seed`)")
    return 0
