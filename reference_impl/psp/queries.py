"""The psp's SQL, loaded once from `sql/*.sql` (named blocks): the service, the worker and the tests share it."""

from __future__ import annotations

from importlib import resources

import aiosql

SQL_DIR = resources.files("reference_impl.psp") / "sql"
Q = aiosql.from_path(str(SQL_DIR), "asyncpg", mandatory_parameters=False)
