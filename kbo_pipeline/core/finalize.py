"""Finalize a job: refuse while a batch is unfinished; then, in one transaction, replace `code`,
recompute the primary names it touched, mark it completed with its counts and drop its staging rows."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from kbo_pipeline.core import failpoints, ledger
from kbo_pipeline.core.database import transaction
from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.core.ledger import BatchStatus, JobStatus
from kbo_pipeline.core.primary_names import mark_touched, resolve_touched
from kbo_pipeline.core.staging import drop_job_staging
from kbo_pipeline.errors import FinalError


class UnfinishedBatches(FinalError):
    """A job cannot go on while some of its batches are not completed."""


@dataclass(frozen=True)
class TableSummary:
    table: str
    rows_deleted: int
    rows_inserted: int
    current_rows: int
    batches: int
    seconds: float


@dataclass(frozen=True)
class FinalizeResult:
    job_id: int
    names_resolved: int
    code_rows: int
    tables: tuple[TableSummary, ...]
    already_completed: bool = False  # finalized by an earlier attempt: nothing done this time


def table_summaries(conn: duckdb.DuckDBPyConnection, job_id: int) -> tuple[TableSummary, ...]:
    per_table = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT table_name, "
            "coalesce(sum(rows_affected) FILTER (WHERE operation = 'delete'), 0), "
            "coalesce(sum(rows_affected) FILTER (WHERE operation = 'insert'), 0), count(*), "
            "coalesce(sum(epoch(completed_at - started_at)), 0) "
            "FROM import_job_batches WHERE job_id = $job_id GROUP BY table_name",
            {"job_id": job_id},
        ).fetchall()
    }
    summaries = []
    for entity in ENTITIES:
        deleted, inserted, batches, seconds = per_table.get(entity.table, (0, 0, 0, 0.0))
        current = conn.execute(f"SELECT count(*) FROM {entity.table} WHERE _is_current").fetchone()[0]
        summaries.append(
            TableSummary(entity.table, int(deleted), int(inserted), int(current), int(batches), float(seconds))
        )
    return tuple(summaries)


# Backups of the code table kept for rollbacks: the last few completed jobs.
CODE_BACKUPS_KEPT = 10


def replace_code(conn: duckdb.DuckDBPyConnection, job_id: int) -> int:
    """Back up the current code table under this job, then replace it with the job's code.csv."""
    conn.execute(
        "INSERT INTO import_code_backup SELECT $job_id, category, code, language, description FROM code",
        {"job_id": job_id},
    )
    conn.execute(
        "DELETE FROM import_code_backup WHERE job_id NOT IN (SELECT job_id FROM import_jobs "
        "WHERE status = $completed OR job_id = $job_id ORDER BY job_id DESC LIMIT $kept)",
        {"job_id": job_id, "kept": CODE_BACKUPS_KEPT, "completed": JobStatus.COMPLETED},
    )
    conn.execute("DELETE FROM code")
    return conn.execute(
        "INSERT INTO code SELECT category, code, language, description FROM import_staging_code WHERE job_id = $job_id",
        {"job_id": job_id},
    ).fetchone()[0]


def _refuse_unfinished(conn: duckdb.DuckDBPyConnection, job_id: int, doing: str) -> None:
    unfinished = conn.execute(
        "SELECT table_name || ' ' || operation || ' batch ' || batch_number || ' (' || status || ')' "
        "FROM import_job_batches WHERE job_id = $job_id AND status <> $completed "
        "ORDER BY table_name, operation, batch_number",
        {"job_id": job_id, "completed": BatchStatus.COMPLETED},
    ).fetchall()
    if unfinished:
        listed = ", ".join(u[0] for u in unfinished[:10])
        raise UnfinishedBatches(
            f"import job {job_id} cannot {doing}: {len(unfinished)} batch(es) not completed: {listed}"
        )


def _job_status(conn: duckdb.DuckDBPyConnection, job_id: int) -> tuple[str, int, int | None]:
    row = conn.execute(
        "SELECT status, extract_number, names_resolved FROM import_jobs WHERE job_id = $job_id", {"job_id": job_id}
    ).fetchone()
    if row is None:
        raise FinalError(f"no import job {job_id}")
    return row


def resolve_names(conn: duckdb.DuckDBPyConnection, job_id: int) -> int:
    """Once every batch is applied: recompute the primary names of the enterprises the extract touched
    (its enterprise rows or denominations). Idempotent; the count is kept on the job. A Full into an
    empty database resolved them as it loaded the enterprises (staging.py): its count is there already."""
    with transaction(conn):
        status, extract_number, names = _job_status(conn, job_id)
        if status == JobStatus.COMPLETED or names is not None:
            return int(names or 0)
        _refuse_unfinished(conn, job_id, "resolve primary names")
        mark_touched(conn, extract_number)
        names = resolve_touched(conn, recorded_as=extract_number)
        ledger.record_names(conn, job_id, names)
    return names


def finalize_job(conn: duckdb.DuckDBPyConnection, job_id: int) -> FinalizeResult:
    """Refuse while a batch is unfinished; then replace `code`, mark the job completed with its counts
    and drop its staging rows, in one transaction. Primary names are resolved first if they were not."""
    status, _, names = _job_status(conn, job_id)
    if names is None and status != JobStatus.COMPLETED:
        resolve_names(conn, job_id)
    with transaction(conn):
        status, _, names = _job_status(conn, job_id)
        if status == JobStatus.COMPLETED:
            code_rows = conn.execute("SELECT count(*) FROM code").fetchone()[0]
            summaries = table_summaries(conn, job_id)
            return FinalizeResult(job_id, int(names or 0), int(code_rows), summaries, already_completed=True)
        _refuse_unfinished(conn, job_id, "finalize")
        code_rows = replace_code(conn, job_id)
        tables = table_summaries(conn, job_id)
        ledger.complete_job(conn, job_id, sum(t.rows_deleted for t in tables), sum(t.rows_inserted for t in tables))
        drop_job_staging(conn, job_id)
    failpoints.hit("commit_lost", "finalize")
    return FinalizeResult(job_id, int(names or 0), int(code_rows), tables)
