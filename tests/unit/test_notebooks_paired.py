"""Each notebook's .ipynb and its py:percent twin say the same thing (reviewers read the .py)."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("[0-9]*.py"))   # numbered notebooks only


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("py", PAIRS, ids=[p.stem for p in PAIRS])
def test_ipynb_matches_its_py_percent_twin(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `jupytext --sync {py.name}`"
    assert _sources(jupytext.read(py)) == _sources(jupytext.read(ipynb)), f"run `jupytext --sync {py.name}`"
