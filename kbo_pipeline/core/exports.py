"""Parquet exports for the people downstream: what an extract changed, one file per table, and on
request the current state. Hive-style folders, so that any engine reads them as one dataset:

    <export_dir>/changes/extract=148/activity.parquet    changes_in_activity(148)
    <export_dir>/current/activity.parquet                current_activity (and code.parquet)

DuckDB writes each file with COPY ... (FORMAT parquet) under a temporary name in the same folder and
renames it into place, so a reader sees the old file or the new one, never half of one. The rows come
out in a total order, so writing again (a re-executed step) writes the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kbo_pipeline.core.entities import CODE, ENTITIES

PARTIAL = ".partial-"  # a file being written: <name>.parquet.partial-<pid>; no reader's *.parquet matches it


@dataclass(frozen=True)
class ExportedFile:
    table: str
    path: Path
    rows: int
    bytes: int


def changes_folder(export_dir: Path | str, extract_number: int) -> Path:
    return Path(export_dir) / "changes" / f"extract={extract_number}"


def current_folder(export_dir: Path | str) -> Path:
    return Path(export_dir) / "current"


def _write(conn: duckdb.DuckDBPyConnection, query: str, params: dict, table: str, folder: Path) -> ExportedFile:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{table}.parquet"
    partial = folder / f"{final.name}{PARTIAL}{os.getpid()}"
    try:
        rows = conn.execute(f"COPY ({query}) TO $path (FORMAT parquet)", {**params, "path": str(partial)}).fetchone()[0]
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return ExportedFile(table, final, int(rows), final.stat().st_size)


def _remove_partials(folder: Path) -> None:
    """What an interrupted export left behind (its process is gone; the name carries its pid)."""
    for stale in folder.glob(f"*.parquet{PARTIAL}*"):
        stale.unlink(missing_ok=True)


def export_changes(conn: duckdb.DuckDBPyConnection, extract_number: int, export_dir: Path | str) -> list[ExportedFile]:
    """changes/extract=<k>/<table>.parquet for every entity table: the rows extract k added or retired,
    typed, with their kind of change (changes_in_<table>)."""
    folder = changes_folder(export_dir, extract_number)
    if folder.exists():
        _remove_partials(folder)
    return [
        _write(conn, f"SELECT * FROM changes_in_{entity.table}($k)", {"k": extract_number}, entity.table, folder)
        for entity in ENTITIES
    ]


def export_current(conn: duckdb.DuckDBPyConnection, export_dir: Path | str) -> list[ExportedFile]:
    """current/<table>.parquet: every entity table's current rows (history columns left out), and code."""
    folder = current_folder(export_dir)
    if folder.exists():
        _remove_partials(folder)
    files = []
    for entity in ENTITIES:
        columns = ", ".join(entity.published_columns)
        query = f"SELECT {columns} FROM {entity.table} WHERE _is_current ORDER BY ALL"
        files.append(_write(conn, query, {}, entity.table, folder))
    files.append(_write(conn, "SELECT * FROM code ORDER BY ALL", {}, CODE.table, folder))
    return files


def expected_rows(conn: duckdb.DuckDBPyConnection, table: str, extract_number: int | None) -> int:
    """What the database holds for one exported file: the table's change set of that extract, or (None)
    its current rows."""
    if extract_number is None:
        source = "code" if table == CODE.table else f"current_{table}"
        return conn.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    # The rows it added plus the rows it retired, counted on the history columns alone: the check does
    # not recompute the kinds of change (the export's cost) to count them.
    return conn.execute(
        f"SELECT (SELECT count(*) FROM {table} WHERE _extract_number = $k) "
        f"+ (SELECT count(*) FROM {table} WHERE _deleted_at_extract = $k)",
        {"k": extract_number},
    ).fetchone()[0]


def file_rows(conn: duckdb.DuckDBPyConnection, path: Path | str) -> int:
    return conn.execute("SELECT count(*) FROM read_parquet($path)", {"path": str(path)}).fetchone()[0]
