"""Which exceptions mean "a server we depend on is away" rather than "this code is wrong".

A database restart, a Redis crash or a peer that does not answer reaches a handler as a driver exception. The
client can do nothing about it but wait and retry, so every service answers it the same way: 503 JSON with
Retry-After (see http.py), never the 500 text/plain of an unhandled exception. Anything not named here is a
bug and stays a 500 (JSON too).
"""

from __future__ import annotations


def outage_classes() -> tuple[type[BaseException], ...]:
    """The exception classes worth a look; `describe` decides. Imported late: only services load asyncpg."""
    import asyncpg  # noqa: PLC0415
    import redis.exceptions as rx  # noqa: PLC0415

    from reference_impl.infra.client import Unknown  # noqa: PLC0415

    return (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.TooManyConnectionsError, asyncpg.exceptions.LockNotAvailableError,
            asyncpg.InterfaceError, rx.ConnectionError, rx.TimeoutError, ConnectionError, TimeoutError, Unknown)


def describe(exc: BaseException) -> tuple[str, str] | None:
    """(error code, one-line detail) for an outage, or None for anything else."""
    import asyncpg  # noqa: PLC0415
    import redis.exceptions as rx  # noqa: PLC0415

    from reference_impl.infra.client import Unknown  # noqa: PLC0415

    what = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else 'no detail'}"
    if isinstance(exc, asyncpg.exceptions.LockNotAvailableError):
        return "database_busy", f"a row this request needs is locked by another; retry ({what})"
    if isinstance(exc, asyncpg.InterfaceError):
        # Only a closed connection or pool is an outage; any other InterfaceError is a misuse of the driver.
        if "closed" not in str(exc) and "connection" not in str(exc).lower():
            return None
        return "database_unavailable", f"the database connection was lost ({what})"
    if isinstance(exc, asyncpg.PostgresError):
        return "database_unavailable", f"the database is unavailable ({what})"
    if isinstance(exc, rx.RedisError):
        return "redis_unavailable", f"Redis is unavailable ({what})"
    if isinstance(exc, Unknown):
        return "upstream_unavailable", f"a service this one calls did not answer ({what})"
    if isinstance(exc, ConnectionError | TimeoutError):
        # Raised by the drivers while (re)connecting: refused, reset, or no answer in time.
        return "dependency_unavailable", f"a server this service needs is unreachable ({what})"
    return None
