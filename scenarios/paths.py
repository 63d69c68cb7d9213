"""Where the lab keeps its state and its results: one stack per checkout, one results folder.

Every engine and the CLI find `.lab/` and `results/` the same way, from the environment or the working
directory, so nothing passes paths around. Part of the contract because the model reads calibration files
from results/ and the real stack its state from .lab/.
"""

from __future__ import annotations

import os
from pathlib import Path


def lab_home() -> Path:
    """`.lab/` in the working directory, or `LAB_HOME`: one stack per checkout, tests get their own."""
    return Path(os.environ.get("LAB_HOME") or Path.cwd() / ".lab").resolve()


def results_home() -> Path:
    return Path(os.environ.get("LAB_RESULTS") or Path.cwd() / "results").resolve()


def require_services() -> bool:
    """In CI a missing server is a failure, not a skip: an empty run must never pass silently."""
    return os.environ.get("LAB_REQUIRE_SERVICES", "") not in ("", "0", "false")
