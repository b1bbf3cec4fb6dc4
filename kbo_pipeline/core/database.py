"""Connections and transactions, the same for a local DuckDB file and MotherDuck (`md:` paths)."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

import duckdb

from kbo_pipeline import settings
from kbo_pipeline.core.motherduck import (
    adopt_token,
    check_client,
    connection_error,
    fake_path,
    is_motherduck,
    name_of,
    remember_config,
)
from kbo_pipeline.errors import FinalError, TransientError


class DatabaseBusy(TransientError):
    """Another process held the database for the whole wait."""


class DatabaseUnreadable(FinalError):
    """DuckDB cannot read the file (damaged, truncated, not a database), or it has no ledger."""


def database_exists(database: str) -> bool:
    """False for a local file not yet created; a MotherDuck database is taken to exist."""
    return is_motherduck(database) or Path(database).exists()


def resolve_database(database: str) -> str:
    """An absolute path (or the md: name, its options and token stripped: motherduck.adopt_token), so that
    the same database always has the same name: what every command prints, and the run tag kbo/database
    that the run queue limits to one run at a time."""
    if is_motherduck(database):
        return adopt_token(database)
    return database if database == ":memory:" else str(Path(database).resolve())


def database_of(conn: duckdb.DuckDBPyConnection) -> str:
    """The database a connection writes: its file's absolute path, or its name (MotherDuck, memory)."""
    path, name = conn.execute(
        "SELECT path, database_name FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return path or name


def database_folder_name(database: str) -> str:
    """A folder name that stands for one database: a readable stem and a hash of where it is."""
    where = (
        name_of(database)
        if is_motherduck(database) or database in (":memory:", "memory")
        else os.path.abspath(database)
    )
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", PurePath(where).name or where)[:40]
    return f"{stem}-{hashlib.sha256(where.encode()).hexdigest()[:10]}"


@contextmanager
def connect(
    database: str, config: dict | None = None, read_only: bool = False, lock_wait_seconds: float = 0.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection that is always closed, so a failing step never keeps the file lock. With
    `lock_wait_seconds`, a file held by another process is tried again for that long."""
    conn = open_connection(database, config, read_only, lock_wait_seconds)
    try:
        with interrupts_raised():
            yield conn
    finally:
        conn.close()


def connect_read_only(database: str):
    """A reader's connection. Read-only for a file, so that it never takes the writer's lock; MotherDuck
    has no read-only attach for a database its token can write, and needs no such lock."""
    return connect(database, read_only=not is_motherduck(database))


def open_connection(
    database: str, config: dict | None = None, read_only: bool = False, lock_wait_seconds: float = 0.0
) -> duckdb.DuckDBPyConnection:
    """A new connection; the caller closes it (`connect` is the usual way)."""
    if is_motherduck(database):
        return _open_motherduck(database, config, read_only, lock_wait_seconds)
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_wait_seconds
    while True:
        try:
            return duckdb.connect(database, read_only=read_only, config=dict(config or {}))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _open_motherduck(
    database: str, config: dict | None, read_only: bool, lock_wait_seconds: float
) -> duckdb.DuckDBPyConnection:
    """MotherDuck: the client checked first (no network call from a client it refuses), the token taken
    from the string into the environment, and a failure said as what it is, never as "busy". Under
    KBO_FAKE_MOTHERDUCK_DIR, a local file stands in for it (no client check: that has tests of its own)."""
    name = adopt_token(database)
    # MotherDuck refuses a second configuration for a database a process has open, for 15 minutes after
    # it closes: every connection of this process gets the same settings (KBO_MEMORY_LIMIT, KBO_THREADS),
    # whether a command's quick read or a run's steps opens it.
    config = dict(config or settings.duckdb_config())
    fake = fake_path(name)
    if fake is not None:
        remember_config(name, config)
        return open_connection(str(fake), config, read_only=False, lock_wait_seconds=lock_wait_seconds)
    check_client(name)
    try:
        return duckdb.connect(name, read_only=read_only, config=config)
    except duckdb.Error as exc:
        if is_lock_conflict(exc):
            raise
        raise connection_error(name, exc) from None


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """A stop request (Dagster's terminate, Ctrl-C) that arrives while DuckDB runs a statement becomes
    an ordinary DuckDB exception, which a step would report as a failure (or retry) while the run went
    on with its next steps. It is an interrupt: raise it as one."""
    try:
        yield
    except Exception as exc:
        if not is_interrupt(exc):
            raise
        raise KeyboardInterrupt("interrupted while DuckDB ran a statement") from None


def is_interrupt(exc: BaseException) -> bool:
    """Whether DuckDB reported a SIGINT: InterruptException mid-statement, or a RuntimeError
    'Query interrupted' while it fetched a result."""
    if isinstance(exc, duckdb.InterruptException):
        return True
    return type(exc) is RuntimeError and "query interrupted" in str(exc).lower()


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
_TRANSIENT_MESSAGES = (
    "could not set lock",
    "conflicting lock",
    "connection",
    "network",
    "timed out",
    "timeout",
    "temporarily unavailable",
)


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether another process (or another connection of this one, opened differently) holds the
    database: busy, not broken."""
    message = str(exc).lower()
    return isinstance(exc, (duckdb.IOException, duckdb.ConnectionException)) and (
        "could not set lock" in message or "conflicting lock" in message or "different configuration" in message
    )


def damaged(database: str, exc: BaseException) -> str:
    """What to tell an operator about a database file DuckDB cannot read."""
    return (
        f"{database} cannot be read: {str(exc).splitlines()[0]} (a damaged or truncated file? restore it from a "
        "backup, or remove it and import again from a Full)"
    )


# DuckDB's words for a file that is not (or no longer) a whole database.
_DAMAGED_MESSAGES = ("could not read enough bytes", "not a valid duckdb database", "corrupt", "checksum")


def is_damaged(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(m in str(exc).lower() for m in _DAMAGED_MESSAGES)


def ensure_readable(database: str) -> None:
    """Refuse a local database file DuckDB cannot read (damaged, truncated, not a database) before a
    command launches a run on it: the catalog and the ledger are read. A file another process holds is
    taken as readable (it is in use)."""
    if is_motherduck(database) or not Path(database).exists():
        return
    try:
        with connect(database, read_only=True) as conn:
            tables = conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND table_name IN ('import_jobs', 'import_job_batches')"
            ).fetchall()
            for (table,) in tables:  # names from the catalog's own list of the two ledger tables
                conn.execute(f"SELECT * FROM {table}").fetchall()
    except duckdb.Error as exc:
        if is_lock_conflict(exc):
            return
        raise DatabaseUnreadable(damaged(database, exc)) from None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work later may succeed."""
    if isinstance(exc, (ConnectionError, TimeoutError, duckdb.HTTPException, duckdb.OutOfMemoryException)):
        return True
    if isinstance(exc, (duckdb.IOException, duckdb.ConnectionException)):
        return any(m in str(exc).lower() for m in _TRANSIENT_MESSAGES)
    return False
