"""Parquet exports for the people downstream: what an extract changed, one file per table, and on
request the current state. Hive-style folders, so that any engine reads them as one dataset:

    <export_dir>/changes/extract=148/activity.parquet    changes_in_activity(148)
    <export_dir>/current/activity.parquet                current_activity (and code.parquet)

    <export_dir>/manifest.json                           which extracts are valid, for which database

DuckDB writes each file with COPY ... (FORMAT parquet, ZSTD) under a temporary name in the same folder
and renames it into place, so a reader sees the old file or the new one, never half of one. The rows
come out in a fixed order, so writing again (a re-executed step) writes the same bytes: an update's
change set sorted (it is small), a first Full's and the current snapshot in the tables' order (a scan
keeps it; a sort of 47 M rows would cost more than writing them).

The folder belongs to one database: the manifest names its id, and a database refuses a folder that
another one wrote. It follows the ledger: `sync_exports` (after every export and every rollback)
removes the change set of an extract that is no longer applied and a current snapshot newer than the
latest applied extract, and lists in the manifest the change sets a consumer may apply. Only names from
the entity spec reach SQL; any other file in the folder is left alone and never read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb

from kbo_pipeline.core.database import database_of
from kbo_pipeline.core.entities import CODE, ENTITIES, ENTITY_BY_TABLE, TABLES
from kbo_pipeline.core.ledger import JobStatus, database_id
from kbo_pipeline.core.schema import is_establishment_number, reaches_enterprise_through_establishment
from kbo_pipeline.errors import FinalError

PARTIAL = ".partial-"  # a file being written: <name>.parquet.partial-<pid>; no reader's *.parquet matches it
MANIFEST = "manifest.json"
CHANGE_FOLDER = re.compile(r"extract=(\d+)")
CURRENT_TABLES = (*TABLES, CODE.table)
# ZSTD, not DuckDB's default Snappy: a first Full's activity change set (36 M rows) was 53 MB against
# 302 MB and no slower to write (10.5 s against 12.5 s); every Parquet reader knows it. DuckDB's default
# row groups were faster than 1 M-row ones (12.5 s against 13.4 s). No dictionary pages: ZSTD does
# better on the plain values, and building a dictionary of 36 M entity numbers cost more than it saved
# (8.3 s and 44 MB against 9.0 s and 53 MB). BENCHMARKS.md, issue 19.
PARQUET = "FORMAT parquet, COMPRESSION zstd, DICTIONARY_SIZE_LIMIT 1"
SIDE_BY_SIDE = 2  # files written at once: the machine's two cores (one large COPY uses both already)


class ExportFolderError(FinalError):
    """The export folder belongs to another database."""


@dataclass(frozen=True)
class Manifest:
    database: str
    database_id: str | None
    extracts: tuple[int, ...]  # the change sets a consumer may apply, in order
    current_as_of: int | None  # the extract the current snapshot shows; None: no snapshot

    def to_json(self) -> str:
        return json.dumps(
            {
                "database": self.database,
                "database_id": self.database_id,
                "extracts": list(self.extracts),
                "current_as_of": self.current_as_of,
                "written_at": datetime.now(UTC).isoformat(),
            },
            indent=1,
        )


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
        rows = conn.execute(f"COPY ({query}) TO $path ({PARQUET})", {**params, "path": str(partial)}).fetchone()[0]
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return ExportedFile(table, final, int(rows), final.stat().st_size)


def _remove_partials(folder: Path) -> None:
    """What an interrupted export left behind (its process is gone; the name carries its pid)."""
    for stale in folder.glob(f"*.parquet{PARTIAL}*"):
        stale.unlink(missing_ok=True)


def read_manifest(export_dir: Path | str) -> dict | None:
    try:
        content = json.loads((Path(export_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def claim(conn: duckdb.DuckDBPyConnection, export_dir: Path | str) -> str | None:
    """Refuse a folder whose manifest names another database: two databases never mix their files. A
    manifest naming this same path with another id was written by a database that is gone (deleted and
    built again, or restored from a backup older than its ledger): its files describe nothing that
    exists, so they are removed and the folder is this database's. Returns what was done, if anything."""
    manifest = read_manifest(export_dir)
    ours = database_id(conn)
    theirs = manifest.get("database_id") if manifest else None
    if not theirs or not ours or theirs == ours:
        return None
    if manifest.get("database") != database_of(conn):
        raise ExportFolderError(
            f"the export folder {export_dir} belongs to another database ({manifest.get('database')}, id {theirs}); "
            f"this is {database_of(conn)} (id {ours}): give it its own folder (KBO_EXPORT_DIR)"
        )
    export_dir = Path(export_dir)
    for folder in _change_folders(export_dir):
        shutil.rmtree(folder)
    _remove_snapshot(export_dir)
    (export_dir / MANIFEST).unlink(missing_ok=True)
    return (
        f"the export folder {export_dir} held the exports of an earlier database at this path (id {theirs}): "
        "removed, the folder is this database's now"
    )


def _change_folders(export_dir: Path) -> list[Path]:
    """The change-set folders the exports wrote (extract=<N>, real folders); nothing else in the folder."""
    changes = export_dir / "changes"
    if not changes.is_dir():
        return []
    return [
        folder
        for folder in sorted(changes.glob("extract=*"))
        if CHANGE_FOLDER.fullmatch(folder.name) and folder.is_dir() and not folder.is_symlink()
    ]


def _remove_snapshot(export_dir: Path) -> None:
    for table in CURRENT_TABLES:
        (current_folder(export_dir) / f"{table}.parquet").unlink(missing_ok=True)


def sync_exports(conn: duckdb.DuckDBPyConnection, export_dir: Path | str, current_as_of: int | None = None) -> Manifest:
    """Bring the folder in line with the ledger and write its manifest: change sets of extracts no
    longer applied go, and so does a snapshot of a state no longer applied. `current_as_of`: a current
    snapshot was just written, showing that extract."""
    export_dir = Path(export_dir)
    claim(conn, export_dir)
    applied = {
        number
        for (number,) in conn.execute(
            "SELECT extract_number FROM import_jobs WHERE status = $completed", {"completed": JobStatus.COMPLETED}
        ).fetchall()
    }
    valid = []
    for folder in _change_folders(export_dir):
        number = int(CHANGE_FOLDER.fullmatch(folder.name)[1])
        if number not in applied:
            shutil.rmtree(folder)  # rolled back (or never finished): its changes are not the database's
        elif all((folder / f"{table}.parquet").is_file() for table in TABLES):
            valid.append(number)
    previous = read_manifest(export_dir) or {}
    snapshot = current_as_of if current_as_of is not None else previous.get("current_as_of")
    if snapshot is not None and (type(snapshot) is not int or snapshot not in applied):
        _remove_snapshot(export_dir)  # a state no longer applied (rolled back)
        snapshot = None
    manifest = Manifest(database_of(conn), database_id(conn), tuple(sorted(valid)), snapshot)
    export_dir.mkdir(parents=True, exist_ok=True)
    partial = export_dir / f"{MANIFEST}{PARTIAL}{os.getpid()}"
    partial.write_text(manifest.to_json())
    os.replace(partial, export_dir / MANIFEST)
    return manifest


# Up to this many keys, a table's change set is read with its keys bound as a constant list, which
# DuckDB turns into a row-group filter; past it (a huge update, a reconciled Full) a list that long
# costs more to bind than the scan it saves, and the macro looks the keys up itself.
BOUND_KEYS = 20_000


class ChangeSetQuery(NamedTuple):
    sql: str
    params: dict
    in_table_order: bool  # a first Full's, written unsorted: its bytes depend on the storage (_settle)


def change_set_query(conn: duckdb.DuckDBPyConnection, table: str, extract_number: int) -> ChangeSetQuery:
    """The query (and its parameters) that reads changes_in_<table>(k) at the cost of what extract k
    touched: an extract that nothing in the table precedes (a first Full) is every row added and new,
    in the table's order (no sort of 47 M rows); otherwise the keys it touched are read first, from
    the rows it added and retired (the table's end, where a daily update moves what it retires; found
    by the row groups' min/max), and bound."""
    if table not in TABLES:
        raise ValueError(f"{table!r} is not a table of the entity spec")
    params = {"k": extract_number}
    earlier = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE _extract_number < $k)", params).fetchone()[0]
    if not earlier and not (
        reaches_enterprise_through_establishment(ENTITY_BY_TABLE[table]) and _odd_establishment_numbers(conn)
    ):
        return ChangeSetQuery(f"SELECT * FROM first_changes_in_{table}($k)", params, True)
    keys = [key for (key,) in conn.execute(f"SELECT key FROM changed_keys_{table}($k)", params).fetchall()]
    if not keys or len(keys) > BOUND_KEYS:  # nothing touched (nothing to bind), or too many keys
        return ChangeSetQuery(f"SELECT * FROM changes_in_{table}($k)", params, False)
    return ChangeSetQuery(f"SELECT * FROM changes_of_{table}($k, $keys)", {**params, "keys": keys}, False)


def _odd_establishment_numbers(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether an establishment number lacks the register's form, which first_changes_in_<table> relies
    on to tell an establishment's rows from an enterprise's without a join."""
    odd = f"SELECT EXISTS (SELECT 1 FROM establishment WHERE NOT ({is_establishment_number('establishment_number')}))"
    return conn.execute(odd).fetchone()[0]


def export_changes(conn: duckdb.DuckDBPyConnection, extract_number: int, export_dir: Path | str) -> list[ExportedFile]:
    """changes/extract=<k>/<table>.parquet for every entity table: the rows extract k added or retired,
    typed, with their kind of change (changes_in_<table>)."""
    claim(conn, export_dir)
    folder = changes_folder(export_dir, extract_number)
    if folder.exists():
        _remove_partials(folder)
    queries = {entity.table: change_set_query(conn, entity.table, extract_number) for entity in ENTITIES}
    if any(query.in_table_order for query in queries.values()):
        _settle(conn)
    return _write_side_by_side(conn, [(table, q.sql, q.params) for table, q in queries.items()], folder)


def _write_side_by_side(conn: duckdb.DuckDBPyConnection, queries: list[tuple[str, str, dict]], folder: Path):
    """(table, query, params) each written to folder/<table>.parquet, SIDE_BY_SIDE files at a time, each
    on a cursor of its own: a daily update's files are small queries that leave a core idle one by one.
    The files come back in the order given."""

    def write(job: tuple[str, str, dict]) -> ExportedFile:
        table, query, params = job
        cursor = conn.cursor()
        try:
            return _write(cursor, query, params, table, folder)
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=SIDE_BY_SIDE) as pool:
        return list(pool.map(write, queries))


def _settle(conn: duckdb.DuckDBPyConnection) -> None:
    """Checkpoint a local database before a file is written unsorted: DuckDB's Parquet writer encodes a
    column read from changes not yet checkpointed (the names an import just resolved) otherwise than
    the same column read from disk: the same rows in other bytes, so a re-executed export after the
    run's own checkpoint would differ. A sorted file is materialised first and does not depend on it.
    MotherDuck checkpoints on its own terms; there the rows, not the bytes, are what repeats."""
    if Path(database_of(conn)).is_file():
        conn.execute("CHECKPOINT")


def export_current(conn: duckdb.DuckDBPyConnection, export_dir: Path | str) -> list[ExportedFile]:
    """current/<table>.parquet: every entity table's current rows (history columns left out), and code."""
    claim(conn, export_dir)
    folder = current_folder(export_dir)
    if folder.exists():
        _remove_partials(folder)
    # In the tables' order, not sorted: a scan keeps it, so writing again writes the same bytes, and
    # sorting 47 M rows on every column cost more than writing them.
    _settle(conn)
    queries = [
        (entity.table, f"SELECT {', '.join(entity.published_columns)} FROM {entity.table} WHERE _is_current", {})
        for entity in ENTITIES
    ]
    return _write_side_by_side(conn, [*queries, (CODE.table, "SELECT * FROM code", {})], folder)


def expected_rows(conn: duckdb.DuckDBPyConnection, table: str, extract_number: int | None) -> int:
    """What the database holds for one exported file: the table's change set of that extract, or (None)
    its current rows. `table` must be one of the spec's (it names a table in SQL)."""
    if table not in CURRENT_TABLES:
        raise ValueError(f"{table!r} is not a table of the entity spec")
    if extract_number is None:
        source = "code" if table == CODE.table else f"current_{table}"
        return conn.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    # The rows it added plus the rows it retired, counted on the history columns alone: the check does
    # not recompute the kinds of change (the export's cost) to count them. A renamed enterprise is two
    # rows (retired with its old names, added with its new ones).
    renamed = (
        " + 2 * (SELECT count(*) FROM import_name_changes WHERE extract_number = $k)"
        if ENTITY_BY_TABLE[table].finalized
        else ""
    )
    return conn.execute(
        f"SELECT (SELECT count(*) FROM {table} WHERE _extract_number = $k) "
        f"+ (SELECT count(*) FROM {table} WHERE _deleted_at_extract = $k){renamed}",
        {"k": extract_number},
    ).fetchone()[0]


def files_to_check(
    export_dir: Path | str, extract_number: int | None, latest: int | None
) -> list[tuple[str, Path, int | None]]:
    """(label, file, extract) for every file of this extract's export that the manifest lists: the
    change set's tables, and the current snapshot's when it shows the latest applied extract. Names
    come from the spec: a stray or planted file in the folder is never looked at."""
    manifest = read_manifest(export_dir) or {}
    checked = []
    if extract_number is not None and extract_number in (manifest.get("extracts") or []):
        folder = changes_folder(export_dir, extract_number)
        checked += [(f"{folder.name}/{t}.parquet", folder / f"{t}.parquet", extract_number) for t in TABLES]
    if latest is not None and manifest.get("current_as_of") == latest:
        folder = current_folder(export_dir)
        checked += [(f"current/{t}.parquet", folder / f"{t}.parquet", None) for t in CURRENT_TABLES]
    return checked


def file_rows(conn: duckdb.DuckDBPyConnection, path: Path | str) -> int:
    return conn.execute("SELECT count(*) FROM read_parquet($path)", {"path": str(path)}).fetchone()[0]
