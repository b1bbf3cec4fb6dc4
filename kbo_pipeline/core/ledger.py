"""The ledger: the states of an import job and of a batch (sql/ledger.sql stores them as text), what it
says has been applied, and its state transitions, the only writes to import_jobs,
import_job_batches and import_lease. SQL gets states as bound parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import duckdb

from kbo_pipeline.core.entities import Operation
from kbo_pipeline.core.templates import render, sql_text


class JobStatus(StrEnum):
    STAGING = "staging"  # begun; its staging tables are being written
    PROCESSING = "processing"  # staged; batches being applied
    COMPLETED = "completed"  # finalized: the extract is applied
    FAILED = "failed"  # stopped on an error; resumable or replaceable
    ROLLED_BACK = "rolled_back"


class BatchStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


UNFINISHED_JOBS = (JobStatus.STAGING, JobStatus.PROCESSING, JobStatus.FAILED)
UNFINISHED_BATCHES = (BatchStatus.PENDING, BatchStatus.PROCESSING, BatchStatus.FAILED)


def latest_applied(conn: duckdb.DuckDBPyConnection) -> int | None:
    """The number of the latest completed extract; None on a database without one."""
    return conn.execute(
        "SELECT max(extract_number) FROM import_jobs WHERE status = $completed", {"completed": JobStatus.COMPLETED}
    ).fetchone()[0]


class FailureKind(StrEnum):
    """Why a job failed: its file (the same bytes fail again) or what it ran on (the same file may pass)."""

    INPUT = "input"
    RESOURCE = "resource"
    CONFIG = "config"  # the run's settings (batch sizes, ...): the file is not blamed, the run is


def active_job(conn: duckdb.DuckDBPyConnection, extract_number: int) -> int | None:
    """The job the steps after an extract's start carry on with: its begun, unfinished job, newer than the
    latest applied extract (begin_job starts no other). None when the start found nothing to do
    (applied, left rolled back, or older than the latest applied, whatever an old failed attempt of it
    left in the ledger), or when another run has since finished or rolled it back."""
    row = conn.execute(
        "SELECT job_id FROM import_jobs WHERE extract_number = $number AND list_contains($unfinished, status) "
        "AND started_at IS NOT NULL AND extract_number > coalesce("
        "(SELECT max(extract_number) FROM import_jobs WHERE status = $completed), -1)",
        {"number": extract_number, "unfinished": list(UNFINISHED_JOBS), "completed": JobStatus.COMPLETED},
    ).fetchone()
    return row[0] if row else None


def has_table(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = $name "
            "AND database_name = current_database() AND schema_name = current_schema()",
            {"name": name},
        ).fetchone()[0]
    )


def database_id(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The id written into the database when its ledger was created; None before that."""
    if not has_table(conn, "import_database"):
        return None
    return conn.execute("SELECT min(database_id) FROM import_database").fetchone()[0]


# --- The ledger's state transitions -------------------------------------------------------------------
# Every write to import_jobs and import_job_batches is one of these, so that the ledger's rules live in
# one place (a completed batch is never marked failed; a completed job only leaves that state through a
# rollback). Each runs inside the caller's transaction: a batch's data and its ledger row commit together.

BatchKey = dict  # {"job_id", "table", "batch_number", "operation"}
_BATCH_KEY = "job_id = $job_id AND table_name = $table AND batch_number = $batch_number AND operation = $operation"


def open_job(conn: duckdb.DuckDBPyConnection, extract: dict, run_id: str | None) -> int:
    """A new job for an extract (`extract`: number, type, snapshot, timestamp, file_name, sha); its id."""
    job_id = conn.execute("SELECT coalesce(max(job_id), 0) + 1 FROM import_jobs").fetchone()[0]
    conn.execute(
        "INSERT INTO import_jobs (job_id, extract_number, extract_type, snapshot_date, extract_timestamp, "
        "file_name, file_sha256, status, started_at, dagster_run_id) VALUES ($job_id, $number, $type, "
        "$snapshot, $timestamp, $file_name, $sha, $staging, current_timestamp, $run_id)",
        {**extract, "job_id": job_id, "run_id": run_id, "staging": JobStatus.STAGING},
    )
    return job_id


def resume_job(conn: duckdb.DuckDBPyConnection, job_id: int, run_id: str | None) -> None:
    """An unfinished job taken up again: staging if it never staged, else processing; its error cleared."""
    conn.execute(
        "UPDATE import_jobs SET status = CASE WHEN staged_at IS NULL THEN $staging ELSE $processing END, "
        "error_message = NULL, failure_kind = NULL, dagster_run_id = $run_id WHERE job_id = $job_id",
        {"job_id": job_id, "run_id": run_id, "staging": JobStatus.STAGING, "processing": JobStatus.PROCESSING},
    )


def restart_job(conn: duckdb.DuckDBPyConnection, job_id: int, extract: dict, run_id: str | None) -> None:
    """A job begun again from nothing for other bytes: its batches forgotten, its fields those of the new
    file (the caller has undone whatever its batches applied)."""
    conn.execute("DELETE FROM import_job_batches WHERE job_id = $job_id", {"job_id": job_id})
    conn.execute(
        "UPDATE import_jobs SET extract_type = $type, snapshot_date = $snapshot, extract_timestamp = $timestamp, "
        "file_name = $file_name, file_sha256 = $sha, status = $staging, started_at = current_timestamp, "
        "staged_at = NULL, completed_at = NULL, total_batches = NULL, rows_staged = NULL, rows_deleted = NULL, "
        "rows_inserted = NULL, names_resolved = NULL, error_message = NULL, failure_kind = NULL, "
        "dagster_run_id = $run_id WHERE job_id = $job_id",
        {
            **{k: v for k, v in extract.items() if k != "number"},
            "job_id": job_id,
            "run_id": run_id,
            "staging": JobStatus.STAGING,
        },
    )


def fail_job(
    conn: duckdb.DuckDBPyConnection,
    error: str,
    kind: FailureKind,
    *,
    job_id: int | None = None,
    extract_number: int | None = None,
    file_name: str | None = None,
    file_sha256: str | None = None,
) -> None:
    """A job failed with its error and kind; a file that never became a job gets a failed row of its own.
    A completed job is never marked failed (a bad copy of an applied extract does not undo it)."""
    if job_id is None and extract_number is not None:
        row = conn.execute(
            "SELECT job_id, status FROM import_jobs WHERE extract_number = $number", {"number": extract_number}
        ).fetchone()
        if row and row[1] == JobStatus.COMPLETED:
            return
        job_id = row[0] if row else None
    values = {"error": error, "failed": JobStatus.FAILED, "kind": kind, "sha": file_sha256}
    if job_id is None:
        job_id = conn.execute("SELECT coalesce(max(job_id), 0) + 1 FROM import_jobs").fetchone()[0]
        conn.execute(
            "INSERT INTO import_jobs (job_id, extract_number, file_name, file_sha256, status, error_message, "
            "failure_kind) VALUES ($job_id, $number, $file_name, $sha, $failed, $error, $kind)",
            {**values, "job_id": job_id, "number": extract_number, "file_name": file_name or "?"},
        )
        return
    conn.execute(
        "UPDATE import_jobs SET status = $failed, error_message = $error, failure_kind = $kind, "
        "file_sha256 = coalesce($sha, file_sha256) WHERE job_id = $job_id AND status <> $completed",
        {**values, "job_id": job_id, "completed": JobStatus.COMPLETED},
    )


def add_batches(conn: duckdb.DuckDBPyConnection, entity, job_id: int, operation: str) -> int:
    """One pending row per batch of one table and operation, from the rows staged for it; how many."""
    return conn.execute(
        render("stage_batches.sql", entity),
        {"job_id": job_id, "operation": operation, "table_name": entity.table, "pending": BatchStatus.PENDING},
    ).fetchone()[0]


def batch_name(table: str, operation: str, batch_number: int) -> str:
    """A batch's name, as its step's mapping key and the failpoints know it: `activity_insert_0003`."""
    return f"{table}_{operation}_{batch_number:04d}"


def add_loaded_batch(conn: duckdb.DuckDBPyConnection, entity, job_id: int, rows: int) -> int:
    """The one batch of a table a Full into an empty database read straight into it: completed with
    the rows, in the staging transaction that inserted them; returns 1."""
    conn.execute(
        "INSERT INTO import_job_batches (job_id, table_name, batch_number, operation, status, records_count, "
        "rows_affected, started_at, completed_at) "
        "VALUES ($job_id, $table, 1, $insert, $completed, $rows, $rows, current_timestamp, current_timestamp)",
        {
            "job_id": job_id,
            "table": entity.table,
            "insert": Operation.INSERT,
            "completed": BatchStatus.COMPLETED,
            "rows": rows,
        },
    )
    return 1


def job_staged(conn: duckdb.DuckDBPyConnection, job_id: int, batches: int, rows: int) -> None:
    conn.execute(
        "UPDATE import_jobs SET status = $processing, staged_at = current_timestamp, total_batches = $batches, "
        "rows_staged = $rows WHERE job_id = $job_id",
        {"job_id": job_id, "batches": batches, "rows": rows, "processing": JobStatus.PROCESSING},
    )


def record_drift(conn: duckdb.DuckDBPyConnection, job_id: int, report: str) -> None:
    conn.execute(
        "UPDATE import_jobs SET drift_report = $report WHERE job_id = $job_id", {"report": report, "job_id": job_id}
    )


def record_duplicates(conn: duckdb.DuckDBPyConnection, job_id: int, report: str) -> None:
    conn.execute(
        "UPDATE import_jobs SET duplicates_report = $report WHERE job_id = $job_id",
        {"report": report, "job_id": job_id},
    )


def record_names(conn: duckdb.DuckDBPyConnection, job_id: int, names: int) -> None:
    conn.execute(
        "UPDATE import_jobs SET names_resolved = $names WHERE job_id = $job_id", {"job_id": job_id, "names": names}
    )


def complete_job(conn: duckdb.DuckDBPyConnection, job_id: int, rows_deleted: int, rows_inserted: int) -> None:
    conn.execute(
        "UPDATE import_jobs SET status = $completed, completed_at = current_timestamp, rows_deleted = $deleted, "
        "rows_inserted = $inserted, error_message = NULL, failure_kind = NULL WHERE job_id = $job_id",
        {"job_id": job_id, "deleted": rows_deleted, "inserted": rows_inserted, "completed": JobStatus.COMPLETED},
    )


def roll_back_job(conn: duckdb.DuckDBPyConnection, job_id: int) -> None:
    conn.execute(
        "UPDATE import_jobs SET status = $rolled_back, completed_at = current_timestamp, error_message = NULL, "
        "failure_kind = NULL WHERE job_id = $j",
        {"j": job_id, "rolled_back": JobStatus.ROLLED_BACK},
    )


def batch_status(conn: duckdb.DuckDBPyConnection, key: BatchKey) -> BatchStatus | None:
    row = conn.execute(f"SELECT status FROM import_job_batches WHERE {_BATCH_KEY}", key).fetchone()
    return BatchStatus(row[0]) if row else None


def start_batch(conn: duckdb.DuckDBPyConnection, key: BatchKey) -> None:
    """Processing (committed on its own, so that progress shows), unless it completed meanwhile."""
    conn.execute(
        f"UPDATE import_job_batches SET status = $processing, started_at = current_timestamp, error_message = NULL "
        f"WHERE {_BATCH_KEY} AND status <> $completed",
        {**key, "processing": BatchStatus.PROCESSING, "completed": BatchStatus.COMPLETED},
    )


def complete_batch(conn: duckdb.DuckDBPyConnection, key: BatchKey, rows: int) -> None:
    conn.execute(
        f"UPDATE import_job_batches SET status = $completed, completed_at = current_timestamp, rows_affected = $rows "
        f"WHERE {_BATCH_KEY}",
        {**key, "rows": rows, "completed": BatchStatus.COMPLETED},
    )


def fail_batch(
    conn: duckdb.DuckDBPyConnection, key: BatchKey, error: str, status: BatchStatus = BatchStatus.FAILED
) -> None:
    """Failed (or back to pending, after an interrupt), with its error. Never a completed batch: its
    commit may have landed although the client saw an error."""
    conn.execute(
        f"UPDATE import_job_batches SET status = $status, error_message = $error WHERE {_BATCH_KEY} "
        "AND status <> $completed",
        {**key, "error": error[:4000], "status": status, "completed": BatchStatus.COMPLETED},
    )


# The import lease (sql/lease.sql; core/lease.py decides who may hold it).
LEASE = "import"


@dataclass(frozen=True)
class LeaseHolder:
    holder: str
    worker: dict  # core/run_worker.this_process() of the holder: host, boot, pid, start time
    since: datetime
    heartbeat: datetime
    silent_seconds: float  # since its heartbeat, by the database's clock


def lease_holder(conn: duckdb.DuckDBPyConnection) -> LeaseHolder | None:
    conn.execute(sql_text("lease.sql"))
    row = conn.execute(
        "SELECT holder, worker, since, heartbeat, epoch(current_timestamp::TIMESTAMP - heartbeat) "
        "FROM import_lease WHERE lease_name = $lease",
        {"lease": LEASE},
    ).fetchone()
    return LeaseHolder(row[0], json.loads(row[1]), *row[2:]) if row else None


def take_lease(conn: duckdb.DuckDBPyConnection, holder: str, worker: dict) -> None:
    """The lease is ours from now (the caller decided the previous holder, if any, may be replaced)."""
    conn.execute("DELETE FROM import_lease WHERE lease_name = $lease", {"lease": LEASE})
    conn.execute(
        "INSERT INTO import_lease VALUES ($lease, $holder, $worker, current_timestamp, current_timestamp)",
        {"lease": LEASE, "holder": holder, "worker": json.dumps(worker)},
    )


def renew_lease(conn: duckdb.DuckDBPyConnection, holder: str) -> None:
    conn.execute(
        "UPDATE import_lease SET heartbeat = current_timestamp WHERE lease_name = $lease AND holder = $holder",
        {"lease": LEASE, "holder": holder},
    )


def release_lease(conn: duckdb.DuckDBPyConnection, holder: str) -> None:
    conn.execute(
        "DELETE FROM import_lease WHERE lease_name = $lease AND holder = $holder", {"lease": LEASE, "holder": holder}
    )
