"""Connections and transactions, the same for a local DuckDB file and MotherDuck (`md:` paths)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


def is_motherduck(database: str) -> bool:
    return database.startswith("md:") or database.startswith("motherduck:")


@contextmanager
def connect(database: str, config: dict | None = None, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection that is always closed, so a failing step never keeps the file lock."""
    if not is_motherduck(database) and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(database, read_only=read_only, config=dict(config or {}))
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit on success, roll back on any exception (including KeyboardInterrupt)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# Messages of errors that go away on their own: another process holds the file's lock, or the network
# to MotherDuck failed. Disk-full or corruption IOExceptions are not among them.
_TRANSIENT_MESSAGES = ("could not set lock", "conflicting lock", "connection", "network", "timed out", "timeout",
                       "temporarily unavailable")


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work later may succeed."""
    if isinstance(exc, (ConnectionError, TimeoutError, duckdb.HTTPException)):
        return True
    if isinstance(exc, (duckdb.IOException, duckdb.ConnectionException)):
        return any(m in str(exc).lower() for m in _TRANSIENT_MESSAGES)
    return False
