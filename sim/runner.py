"""Running a SimPy environment fast, and counting what it did.

Why a module: the two tricks here (pausing the cyclic GC, reading SimPy's event counter) are about the
interpreter, not the shop; the model modules stay free of them.
"""

from __future__ import annotations

import contextlib
import gc

import simpy


@contextlib.contextmanager
def no_cyclic_gc():
    """Pause the cyclic garbage collector while the model runs, then restore it.

    A run creates no cyclic garbage per attempt (refcounting frees every event and process), but it keeps
    many live objects, and each full collection re-scans them all: pausing it measured +35% attempts/s.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def events_scheduled(env: simpy.Environment) -> int:
    """SimPy numbers every scheduled event from one counter; its repr is the next id (no public API)."""
    return int(repr(env._eid)[6:-1])
