"""Progress of imports, read from the ledger alone (import_jobs, import_job_batches)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from kbo_pipeline.core.database import (
    DatabaseBusy,
    DatabaseUnreadable,
    connect_read_only,
    damaged,
    is_lock_conflict,
)
from kbo_pipeline.core.ledger import BatchStatus


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    seconds_left: float | None

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    def describe(self) -> str:
        left = f", {format_duration(self.seconds_left)} left" if self.seconds_left is not None else ""
        return f"{self.done}/{self.total} batches ({self.percent}%){left}"


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60)} min"


def job_progress(conn: duckdb.DuckDBPyConnection, job_id: int) -> Progress:
    """Batches done and in all, and the time left at the pace of the batches done so far."""
    done, total, spent = conn.execute(
        "SELECT count(*) FILTER (WHERE status = $completed), count(*), "
        "epoch(max(completed_at) FILTER (WHERE status = $completed) - min(started_at)) "
        "FROM import_job_batches WHERE job_id = $job_id",
        {"job_id": job_id, "completed": BatchStatus.COMPLETED},
    ).fetchone()
    seconds_left = spent / done * (total - done) if done and spent is not None and done < total else None
    return Progress(int(done), int(total), seconds_left)


@dataclass(frozen=True)
class JobDetail:
    """One job of the ledger with its batches, for a report."""

    job_id: int
    extract_number: int | None
    extract_type: str | None
    snapshot_date: object
    status: str
    started_at: object
    batches: list[tuple]  # (table, operation, batch_number, status, records_count, error_message)
    progress: Progress


def recent_jobs(conn: duckdb.DuckDBPyConnection, limit: int = 20) -> list[tuple]:
    """The latest jobs, oldest first: (job_id, extract_number, extract_type, snapshot_date, status,
    rows_deleted, rows_inserted, started_at, completed_at, error_message)."""
    rows = conn.execute(
        "SELECT job_id, extract_number, extract_type, snapshot_date, status, rows_deleted, rows_inserted, "
        "started_at, completed_at, error_message FROM import_jobs ORDER BY job_id DESC LIMIT $limit",
        {"limit": limit},
    ).fetchall()
    return list(reversed(rows))


def job_detail(conn: duckdb.DuckDBPyConnection, job_id: int | None = None) -> JobDetail | None:
    """A job (the latest by default) and its batches; None when the ledger has none."""
    if job_id is None:
        job_id = conn.execute("SELECT max(job_id) FROM import_jobs").fetchone()[0]
    job = conn.execute(
        "SELECT extract_number, extract_type, snapshot_date, status, started_at FROM import_jobs WHERE job_id = $job_id",
        {"job_id": job_id},
    ).fetchone()
    if job is None:
        return None
    batches = conn.execute(
        "SELECT table_name, operation, batch_number, status, records_count, error_message FROM import_job_batches "
        "WHERE job_id = $job_id ORDER BY table_name, operation, batch_number",
        {"job_id": job_id},
    ).fetchall()
    return JobDetail(job_id, *job, batches=batches, progress=job_progress(conn, job_id))


def read_with_retries(database: str, read, attempts: int = 60, wait: float = 0.5, on_busy=None):
    """read(conn) on a read-only connection. While an import step holds the database, DuckDB refuses
    readers; steps are short, so say so and try again (attempts x wait seconds at most), then raise
    DatabaseBusy. A file DuckDB cannot read (damaged, truncated, not a database) or one without a
    ledger is DatabaseUnreadable, said as such: "busy" only when another process holds it."""
    for attempt in range(attempts):
        try:
            with connect_read_only(database) as conn:
                return read(conn)
        except duckdb.CatalogException as exc:
            raise DatabaseUnreadable(
                f"{database} has no kbo ledger (nothing imported into it yet, or not a kbo database): "
                f"{str(exc).splitlines()[0]}"
            ) from None
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise DatabaseUnreadable(damaged(database, exc)) from None
            if attempt == attempts - 1:
                raise DatabaseBusy(f"{database} stayed busy: {str(exc).splitlines()[0]}") from None
            if on_busy and attempt == 0:
                on_busy("the database is busy (an import step is writing it): retrying")
            time.sleep(wait)
