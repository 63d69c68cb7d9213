"""`lastunit recs build | status`: the batch job that precomputes "also bought", and its freshness."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from reference_impl import stack
from reference_impl.recommendation import batch, store


def main(args) -> int:
    redis_url = stack.server_url("redis")
    if args.action == "build":
        history = batch.read_history(Path(args.history) if args.history else batch.default_history())
        out = batch.build(redis_url, history, args.top)
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"batch {out['batch']}: {out['orders']} orders -> {out['skus']} SKUs, {out['pairs']} pairs "
                  f"in {out['seconds']}s")
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
