"""Finalize a job: refuse while a batch is unfinished; then, in one transaction, replace `code`,
recompute the primary names it touched, mark it completed with its counts and drop its staging rows."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from .database import transaction
from .entities import ENTITIES
from .schema import sql_text


class UnfinishedBatches(Exception):
    pass


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
    status: str  # completed | already_completed
    names_resolved: int
    code_rows: int
    tables: tuple[TableSummary, ...]


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
        summaries.append(TableSummary(entity.table, int(deleted), int(inserted), int(current), int(batches), float(seconds)))
    return tuple(summaries)


def finalize_job(conn: duckdb.DuckDBPyConnection, job_id: int) -> FinalizeResult:
    with transaction(conn):
        status = conn.execute("SELECT status FROM import_jobs WHERE job_id = $job_id", {"job_id": job_id}).fetchone()
        if status is None:
            raise LookupError(f"no import job {job_id}")
        if status[0] == "completed":
            names, code_rows = conn.execute(
                "SELECT names_resolved, (SELECT count(*) FROM code) FROM import_jobs WHERE job_id = $job_id",
                {"job_id": job_id},
            ).fetchone()
            return FinalizeResult(job_id, "already_completed", int(names or 0), int(code_rows), table_summaries(conn, job_id))
        unfinished = conn.execute(
            "SELECT table_name || ' ' || operation || ' batch ' || batch_number || ' (' || status || ')' "
            "FROM import_job_batches WHERE job_id = $job_id AND status <> 'completed' "
            "ORDER BY table_name, operation, batch_number",
            {"job_id": job_id},
        ).fetchall()
        if unfinished:
            listed = ", ".join(u[0] for u in unfinished[:10])
            raise UnfinishedBatches(
                f"import job {job_id} cannot finalize: {len(unfinished)} batch(es) not completed: {listed}"
            )
        conn.execute("DELETE FROM code")
        code_rows = conn.execute(
            "INSERT INTO code SELECT category, code, language, description FROM import_staging_code "
            "WHERE job_id = $job_id",
            {"job_id": job_id},
        ).fetchone()[0]
        names = conn.execute(sql_text("primary_names.sql"), {"job_id": job_id}).fetchone()[0]
        tables = table_summaries(conn, job_id)
        conn.execute(
            "UPDATE import_jobs SET status = 'completed', completed_at = current_timestamp, "
            "rows_deleted = $deleted, rows_inserted = $inserted, names_resolved = $names, error_message = NULL "
            "WHERE job_id = $job_id",
            {
                "job_id": job_id,
                "deleted": sum(t.rows_deleted for t in tables),
                "inserted": sum(t.rows_inserted for t in tables),
                "names": names,
            },
        )
        for entity in ENTITIES:
            conn.execute(f"DELETE FROM {entity.staging_table} WHERE job_id = $job_id", {"job_id": job_id})
        conn.execute("DELETE FROM import_staging_code WHERE job_id = $job_id", {"job_id": job_id})
    return FinalizeResult(job_id, "completed", int(names), int(code_rows), tables)
