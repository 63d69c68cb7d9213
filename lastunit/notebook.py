"""What a notebook calls first: the lab's `.lab/` and `results/` are the repository's, not the notebook folder's.

Why: Jupyter runs a notebook with its own folder (notebooks/) as the working directory, and the lab finds
`.lab/` and `results/` in the working directory (`scenarios.paths`). Without this, a student who ran
`make demo` at the repository's root and then opened a notebook got a second stack in notebooks/.lab
(two stacks on two cores), and a calibration in notebooks/results/ that `lastunit` never saw. Explicit
LAB_HOME and LAB_RESULTS (as `make test` sets them) always win.
"""

from __future__ import annotations

import os
from pathlib import Path

import lastunit


def at_repository() -> Path | None:
    """Point LAB_HOME and LAB_RESULTS at the source checkout this package runs from, unless they are set;
    return that checkout (None when the package is installed elsewhere: then the working directory rules)."""
    root = Path(lastunit.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").exists():
        return None
    os.environ.setdefault("LAB_HOME", str(root / ".lab"))
    os.environ.setdefault("LAB_RESULTS", str(root / "results"))
    return root
