"""Run a coroutine to completion from sync code, also inside Jupyter (whose kernel already runs a loop)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run_sync(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:   # a loop runs here: give the coroutine its own thread
        return pool.submit(asyncio.run, coro).result()
