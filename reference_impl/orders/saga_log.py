"""A run's saga log exported beside its attempts (`saga_log.csv`, columns in the results schema).

Why a file: the model fits its step times to what really happened, and reads them from the run directory
rather than from the orders database, so it never needs a driver or the real stack to be up.
"""

from __future__ import annotations

import csv
from pathlib import Path

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.results import SAGA_LOG_COLUMNS, SAGA_LOG_FILE

QUERIES = aiosql.from_path(Path(__file__).parent / "sql" / "saga_log.sql", "psycopg", mandatory_parameters=False)


def read_saga_log(server_url: str, run_id: str) -> list[dict]:
    """The run's saga log from the orders database (its orders are keyed `<run_id>-<n>`)."""
    with psycopg.connect(database_url(server_url, "orders")) as conn:
        rows = QUERIES.run_saga_log(conn, key_pattern=run_id + "-%")
        return [dict(zip(SAGA_LOG_COLUMNS, r, strict=True)) for r in rows]


def write_saga_log(run_dir: Path, server_url: str, run_id: str) -> Path:
    path = Path(run_dir) / SAGA_LOG_FILE
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, SAGA_LOG_COLUMNS)
        w.writeheader()
        w.writerows(read_saga_log(server_url, run_id))
    return path
