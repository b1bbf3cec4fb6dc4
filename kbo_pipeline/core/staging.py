"""Typed staging: every CSV of an extract read by DuckDB into import_staging_<entity>, with a batch
number on every row, and one pending import_job_batches row per batch. One transaction: a bad row
anywhere stages nothing.

A Full into an empty database is read straight into the entity tables instead, in the same one
transaction, each table's rows with one completed ledger batch: there is nothing to retire or to
reconcile, and copying 47 M rows from staging into the tables was a third of the Full's import. Its
enterprises alone go through their staging table, last, to enter their table with their primary names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kbo_pipeline.core import failpoints, ledger
from kbo_pipeline.core.batch_sizes import fit_to_counts
from kbo_pipeline.core.database import transaction
from kbo_pipeline.core.duplicates import drop_duplicates
from kbo_pipeline.core.duplicates import record as record_duplicates
from kbo_pipeline.core.entities import CODE, ENTITIES, Entity, Operation
from kbo_pipeline.core.extract import Extract, ExtractError, ExtractType, Member, expected_header
from kbo_pipeline.core.primary_names import NAMED, insert_named
from kbo_pipeline.core.reconcile import check_drift, drift_report, stage_differences
from kbo_pipeline.core.templates import render
from kbo_pipeline.core.work_folders import member_path
from kbo_pipeline.errors import ResourceError


@dataclass(frozen=True)
class StagedPart:
    table: str
    operation: str
    rows: int  # staged, duplicates dropped
    batch_size: int
    batches: int
    reason: str = ""  # why this batch size


LOADED = "a Full into an empty database: read straight into the table"
ONE_BATCH = 2**31 - 1  # the batch size that numbers every staged row of a file batch 1


def _columns_struct(entity: Entity, operation: str) -> str:
    types = {c.csv: c.type for c in entity.csv_columns}
    header = expected_header(entity, Operation.INSERT if operation == Operation.CODE else operation)
    return "{" + ", ".join(f"'{name}': '{types[name]}'" for name in header) + "}"


def csv_reader(entity: Entity, operation: str) -> str:
    """read_csv of one member, typed from the spec; the path is the bound parameter $path."""
    return (
        "read_csv($path, header = true, auto_detect = false, "
        f"columns = {_columns_struct(entity, operation)}, delim = ',', quote = '\"', escape = '\"', "
        "dateformat = '%d-%m-%Y', strict_mode = true, null_padding = false, encoding = 'utf-8')"
    )


def _staged_columns(entity: Entity, operation: str):
    if operation == Operation.DELETE:
        return [c for c in entity.columns if c.name == entity.key]
    return list(entity.columns)


def _typed_read(entity: Entity, operation: str) -> dict[str, str]:
    """The identifiers of a typed read of one member: its columns, their expressions over the CSV's
    columns renamed, and the reader (stage_rows.sql and load_rows.sql)."""
    columns = _staged_columns(entity, operation)
    return {
        "columns": ", ".join(c.name for c in columns),
        "expressions": ", ".join(c.expression or c.name for c in columns),
        "renamed": ", ".join(f'"{c.csv}" AS {c.name}' for c in entity.csv_columns if c in columns),
        "reader": csv_reader(entity, operation),
    }


def stage_rows_sql(entity: Entity, operation: str, target: str | None = None) -> str:
    return render(
        "stage_rows.sql",
        entity,
        staging_table=target or entity.staging_table,
        **_typed_read(entity, operation),
        batch_number=(
            f"(row_number() OVER (ORDER BY {entity.key}) - 1) // $batch_size + 1"
            if operation == Operation.DELETE
            else "(nextval('kbo_staged_row') - 1) // $batch_size + 1"
        ),
    )


def csv_error(exc: duckdb.Error, file: str, member: str) -> ExtractError:
    """DuckDB's CSV error, cut to the file, the line and the problem.

    DuckDB writes `CSV Error on Line: N`, then `Original Line: ...` (which may run over several lines),
    then the problem, then its advice (after a blank line or `Possible ...`); the problem is the block's last line."""
    message = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", message)
    lines = message.splitlines()
    problem = lines[0] if lines else message
    starts = [i for i, text in enumerate(lines) if text.startswith("Original Line:")]
    if starts:
        block = []
        for text in lines[starts[0] + 1 :]:
            if not text.strip() or text.startswith("Possible"):
                break
            block.append(text.strip())
        if block:
            problem = block[-1]
    return ExtractError(problem, file=file, member=member, line=int(line.group(1)) if line else None)


@contextmanager
def reading(extract: Extract, member: Member) -> Iterator[None]:
    """A DuckDB error while one member's CSV is read: the file's content (an ExtractError naming the
    file and line), or what the read ran on (a ResourceError: out of memory, the disk full, the unpacked
    file gone), which blames nothing in the extract and may pass when tried again."""
    try:
        yield
    except (duckdb.OutOfMemoryException, duckdb.IOException) as exc:
        raise ResourceError(f"{extract.file_name}/{member.name}: {resource_problem(exc)}") from exc
    except duckdb.Error as exc:
        raise csv_error(exc, extract.file_name, member.name) from None


def resource_problem(exc: Exception) -> str:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, duckdb.OutOfMemoryException):
        return f"out of memory while reading it (KBO_MEMORY_LIMIT, or free memory): {first}"
    if "no space left" in str(exc).lower():
        return f"the disk is full: {first}"
    return f"could not read its unpacked copy (was the work folder removed?): {first}"


def load_rows_sql(entity: Entity) -> str:
    return render("load_rows.sql", entity, **_typed_read(entity, Operation.INSERT))


def tables_are_empty(conn: duckdb.DuckDBPyConnection) -> bool:
    return not any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {e.table})").fetchone()[0] for e in ENTITIES)


def count_rows(conn: duckdb.DuckDBPyConnection, extract: Extract, folder: Path, member: Member) -> int:
    with reading(extract, member):
        return conn.execute(
            f"SELECT count(*) FROM {csv_reader(member.entity, member.operation)}",
            {"path": str(member_path(folder, member))},
        ).fetchone()[0]


def stage_extract(
    conn: duckdb.DuckDBPyConnection,
    job_id: int,
    extract: Extract,
    folder: Path,
    choices: dict,
    explicit: frozenset = frozenset(),
    reconcile: bool = False,
    accept_drift: bool = False,
) -> list[StagedPart]:
    """Stage every member of an unpacked extract for job_id; mark the job processing. `choices` maps
    (table, operation) to a batch_sizes.SizeChoice. With `reconcile` (a Full on a database holding
    data), only the differences with the current state are staged."""
    if reconcile:
        return _stage_reconciled(conn, job_id, extract, folder, choices, accept_drift)
    if extract.extract_type == ExtractType.FULL and tables_are_empty(conn):
        return _load_into_empty_tables(conn, job_id, extract, folder)
    entity_members = [m for m in extract.members if m.entity in ENTITIES]
    if extract.extract_type != ExtractType.FULL:
        # A Full is not counted first: that would read 2 GB of CSV once more, and at Full sizes the
        # counts change nothing (a small Full is one batch per table anyway, a large one stays well
        # under the step bound).
        counts = {(m.entity.table, m.operation): count_rows(conn, extract, folder, m) for m in entity_members}
        choices = fit_to_counts(choices, counts, explicit)
    parts, duplicates = [], []
    with transaction(conn):
        for member in entity_members:
            entity, operation = member.entity, member.operation
            choice = choices[(entity.table, operation)]
            rows = _stage_member(conn, extract, folder, member, job_id, operation, choice.size)
            if operation == Operation.INSERT and (dropped := drop_duplicates(conn, entity, job_id, member.name)):
                duplicates.append(dropped)
                rows -= dropped.dropped
            batches = ledger.add_batches(conn, entity, job_id, operation)
            parts.append(StagedPart(entity.table, operation, rows, choice.size, batches, choice.reason))
        record_duplicates(conn, job_id, duplicates)
        _stage_code_and_mark_staged(conn, job_id, extract, folder, parts)
    return parts


def _stage_member(
    conn,
    extract: Extract,
    folder: Path,
    member: Member,
    job_id: int,
    operation: str,
    batch_size: int,
    target: str | None = None,
) -> int:
    """Read one CSV of the extract, typed, into its staging table (or `target`); returns the rows read."""
    params = {
        "path": str(member_path(folder, member)),
        "job_id": job_id,
        "operation": operation,
        "batch_size": batch_size,
    }
    with reading(extract, member):
        return conn.execute(stage_rows_sql(member.entity, operation, target), params).fetchone()[0]


def _load_into_empty_tables(conn, job_id: int, extract: Extract, folder: Path) -> list[StagedPart]:
    """A Full into an empty database: every file read straight into its table, its duplicate rows
    dropped there, one completed ledger batch per table; all in one transaction, like staging. The
    enterprises come last, with their primary names (from the denominations loaded before them), so
    that no later step updates every enterprise row."""
    members = [m for m in extract.members if m.entity in ENTITIES]
    parts, duplicates, names = {}, [], 0
    with transaction(conn):
        for member in sorted(members, key=lambda m: m.entity.table == NAMED.table):
            entity = member.entity
            batch = ledger.batch_name(entity.table, Operation.INSERT, 1)  # the table's one ledger batch
            failpoints.hit("before_sql", batch, extract.number)
            if entity.table == NAMED.table:
                rows = names = _load_named(conn, extract, folder, member, job_id, duplicates)
            else:
                params = {
                    "path": str(member_path(folder, member)),
                    "snapshot_date": extract.snapshot_date,
                    "extract_number": extract.number,
                }
                with reading(extract, member):
                    rows = conn.execute(load_rows_sql(entity), params).fetchone()[0]
                if dropped := drop_duplicates(conn, entity, job_id, member.name, entity.table, extract.number):
                    duplicates.append(dropped)
                    rows -= dropped.dropped
            batches = ledger.add_loaded_batch(conn, entity, job_id, rows)
            failpoints.hit("before_commit", batch, extract.number)
            parts[entity.table] = StagedPart(entity.table, Operation.INSERT, rows, rows, batches, LOADED)
        record_duplicates(conn, job_id, duplicates)
        ledger.record_names(conn, job_id, names)
        _stage_code_and_mark_staged(conn, job_id, extract, folder, list(parts.values()))
    return [parts[m.entity.table] for m in members]


def _load_named(conn, extract: Extract, folder: Path, member: Member, job_id: int, duplicates: list) -> int:
    """The enterprises of a Full into an empty database: staged, their duplicates dropped there, then
    inserted with their primary names; their staged rows removed. Returns the rows inserted."""
    entity = member.entity
    _stage_member(conn, extract, folder, member, job_id, Operation.INSERT, ONE_BATCH)
    if dropped := drop_duplicates(conn, entity, job_id, member.name):
        duplicates.append(dropped)
    rows = insert_named(conn, job_id, extract.snapshot_date, extract.number)
    conn.execute(f"DELETE FROM {entity.staging_table} WHERE job_id = $job_id", {"job_id": job_id})
    return rows


def _stage_code_and_mark_staged(conn, job_id: int, extract: Extract, folder: Path, parts: list[StagedPart]) -> None:
    code = extract.member(CODE, "code")
    code_columns = ", ".join(f'"{c.csv}"' for c in CODE.columns)
    with reading(extract, code):
        conn.execute(
            f"INSERT INTO import_staging_code SELECT $job_id, {code_columns} FROM {csv_reader(CODE, 'insert')}",
            {"path": str(member_path(folder, code)), "job_id": job_id},
        )
    ledger.job_staged(conn, job_id, sum(p.batches for p in parts), sum(p.rows for p in parts))


def _stage_reconciled(
    conn, job_id: int, extract: Extract, folder: Path, choices: dict, accept_drift: bool
) -> list[StagedPart]:

    parts, drifts, duplicates = [], [], []
    with transaction(conn):
        for member in (m for m in extract.members if m.entity in ENTITIES):
            entity = member.entity

            def stage_full_rows(target: str, member=member, entity=entity) -> None:
                _stage_member(conn, extract, folder, member, job_id, Operation.INSERT, 1, target)
                if dropped := drop_duplicates(conn, entity, job_id, member.name, target):
                    duplicates.append(dropped)

            size = max(choices[(entity.table, Operation.INSERT)].size, choices[(entity.table, Operation.DELETE)].size)
            drift, deletes, inserts = stage_differences(conn, entity, job_id, stage_full_rows, size)
            drifts.append(drift)
            for operation, rows in ((Operation.DELETE, deletes), (Operation.INSERT, inserts)):
                batches = ledger.add_batches(conn, entity, job_id, operation)
                parts.append(
                    StagedPart(entity.table, operation, rows, size, batches, "reconciling a Full with the database")
                )
        check_drift(extract.file_name, drifts, accept_drift)
        ledger.record_drift(conn, job_id, drift_report(drifts))
        record_duplicates(conn, job_id, duplicates)
        _stage_code_and_mark_staged(conn, job_id, extract, folder, parts)
    return parts


def staged_parts(conn: duckdb.DuckDBPyConnection, job_id: int) -> list[StagedPart]:
    """What an earlier staging of job_id recorded (a resumed import does not stage again)."""
    rows = conn.execute(
        "SELECT table_name, operation, sum(records_count), max(records_count), count(*) FROM import_job_batches "
        "WHERE job_id = $job_id GROUP BY ALL",
        {"job_id": job_id},
    ).fetchall()
    return [
        StagedPart(table, operation, int(total), int(largest), int(batches))
        for table, operation, total, largest, batches in rows
    ]


def is_staged(conn: duckdb.DuckDBPyConnection, job_id: int) -> bool:
    row = conn.execute("SELECT staged_at FROM import_jobs WHERE job_id = $job_id", {"job_id": job_id}).fetchone()
    return row is not None and row[0] is not None


def drop_job_staging(conn: duckdb.DuckDBPyConnection, job_id: int) -> None:
    """Delete a job's staged rows from every staging table (finalize, a replacement, a rollback)."""
    for entity in ENTITIES:
        conn.execute(f"DELETE FROM {entity.staging_table} WHERE job_id = $job_id", {"job_id": job_id})
    conn.execute("DELETE FROM import_staging_code WHERE job_id = $job_id", {"job_id": job_id})
