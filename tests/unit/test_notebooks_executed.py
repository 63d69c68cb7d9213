"""The executed notebooks show what they claim: every table, diagram and plot is in the outputs.

Why a test over executed copies: a figure that never renders (a backend switched on import, a Figure
never displayed) fails nothing when the notebook runs; only its outputs show it. By default this checks the
committed copies in notebooks/executed/ (`make notebooks` writes them); `make test` points
LASTUNIT_EXECUTED_NOTEBOOKS at the copies nbmake has just executed, so CI checks a fresh run too.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
EXECUTED = Path(os.environ.get("LASTUNIT_EXECUTED_NOTEBOOKS") or NOTEBOOKS / "executed")
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))
#: The notebooks whose answers are pictures: the race and trade-off plots, the saga diagrams, the swarm, the
#: basket crowd under both lock orders.
WITH_IMAGES = ("01_last_unit_race", "03_saga_compensation", "05_prime_day", "06_multi_item_deadlock")


def _executed(stem: str):
    path = EXECUTED / f"{stem}.ipynb"
    if not path.exists():
        pytest.fail(f"{path} missing: run `make notebooks` (it executes every notebook into {EXECUTED})")
    return nbformat.read(path, as_version=4)


def _outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("py", SOURCES, ids=[p.stem for p in SOURCES])
def test_executed_copy_is_current_and_ran_without_error(py):
    nb = _executed(py.stem)
    src = [(c.cell_type, c.source.strip()) for c in jupytext.read(py).cells]
    assert [(c.cell_type, c.source.strip()) for c in nb.cells] == src, \
        f"{py.name} changed since its executed copy was made: run `make notebooks`"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "every code cell ran"
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, f"{py.stem}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


@pytest.mark.parametrize("stem", WITH_IMAGES)
def test_executed_notebook_shows_its_figures(stem):
    images = [o for o in _outputs(_executed(stem)) if "image/png" in o.get("data", {})]
    assert images, f"{stem}: no figure in the outputs (is every Figure displayed? is `%matplotlib inline` on?)"
