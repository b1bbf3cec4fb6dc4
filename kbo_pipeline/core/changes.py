"""What an extract changed, read through the SQL macros change_summary(k) and changes_in_<table>(k)
(sql/changes.sql, sql/changes_table.sql): the summary per table, and one table's rows."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.ledger import JobStatus
from kbo_pipeline.errors import ConfigError

KINDS = ("new", "stopped", "changed", "unchanged", "renamed")


@dataclass(frozen=True)
class TableChanges:
    table: str
    rows_added: int
    rows_retired: int
    new: int
    stopped: int
    changed: int
    unchanged: int
    renamed: int
    enterprises: int


def _require_applied(conn: duckdb.DuckDBPyConnection, extract_number: int) -> None:
    status = conn.execute("SELECT status FROM import_jobs WHERE extract_number = $k", {"k": extract_number}).fetchone()
    if status is None or status[0] != JobStatus.COMPLETED:
        state = "not in the ledger" if status is None else status[0]
        raise ConfigError(f"extract {extract_number} is not applied ({state}): it has no change set")


def change_summary(conn: duckdb.DuckDBPyConnection, extract_number: int) -> list[TableChanges]:
    _require_applied(conn, extract_number)
    rows = conn.execute("SELECT * FROM change_summary($k)", {"k": extract_number}).fetchall()
    return [TableChanges(*row) for row in rows]


def table_changes(conn: duckdb.DuckDBPyConnection, extract_number: int, table: str) -> tuple[list[str], list[tuple]]:
    """The column names and rows of changes_in_<table>(k)."""
    if table not in TABLES:
        raise ConfigError(f"no table {table!r}: one of {', '.join(TABLES)}")
    _require_applied(conn, extract_number)
    result = conn.execute(f"SELECT * FROM changes_in_{table}($k)", {"k": extract_number})
    columns = [d[0] for d in result.description]
    return columns, result.fetchall()
