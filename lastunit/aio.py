"""Run a coroutine to completion from sync code, also inside Jupyter (whose kernel already runs a loop).

On uvloop when it is installed (it comes with uvicorn[standard]): a load generator's loop is part of every
latency it measures, and uvloop's is the same loop the services run on.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

try:
    from uvloop import new_event_loop as _loop_factory
except ImportError:            # pragma: no cover - uvloop is Linux/macOS only
    _loop_factory = None


def _run(coro):
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        return runner.run(coro)


def run_sync(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:   # a loop runs here: give the coroutine its own thread
        return pool.submit(_run, coro).result()
