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
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.ledger import BatchStatus, JobStatus


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


def bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "█" * filled + "░" * (width - filled)


def jobs_table(conn: duckdb.DuckDBPyConnection, limit: int = 20) -> str:
    rows = conn.execute(
        "SELECT job_id, extract_number, extract_type, snapshot_date, status, rows_deleted, rows_inserted, "
        "started_at, completed_at, error_message FROM import_jobs ORDER BY job_id DESC LIMIT $limit",
        {"limit": limit},
    ).fetchall()
    if not rows:
        return "no import jobs"
    lines = [
        f"{'job':>4} {'extract':>7} {'type':<6} {'snapshot':<10} {'status':<11} {'deleted':>8} {'inserted':>9}  completed"
    ]
    for job_id, number, kind, snapshot, status, deleted, inserted, _started, completed, error in reversed(rows):
        lines.append(
            f"{job_id:>4} {number if number is not None else '?':>7} {kind or '?':<6} {snapshot or ''!s:<10} "
            f"{status:<11} {deleted if deleted is not None else '':>8} {inserted if inserted is not None else '':>9}  "
            f"{completed or ''}"
        )
        if error:
            lines.append(f"     error: {error}")
    return "\n".join(lines)


def job_report(conn: duckdb.DuckDBPyConnection, job_id: int | None = None) -> str:
    if job_id is None:
        job_id = conn.execute("SELECT max(job_id) FROM import_jobs").fetchone()[0]
    job = conn.execute(
        "SELECT extract_number, extract_type, snapshot_date, status, started_at FROM import_jobs WHERE job_id = $job_id",
        {"job_id": job_id},
    ).fetchone()
    if job is None:
        return "no import job"
    number, kind, snapshot, job_status, started = job
    batches = conn.execute(
        "SELECT table_name, operation, batch_number, status, records_count, error_message FROM import_job_batches "
        "WHERE job_id = $job_id ORDER BY table_name, operation, batch_number",
        {"job_id": job_id},
    ).fetchall()
    progress = job_progress(conn, job_id)
    done, total, percent = progress.done, progress.total, progress.percent
    failed = sum(1 for b in batches if b[3] == BatchStatus.FAILED)
    if job_status == JobStatus.PROCESSING and failed:
        job_status = f"failed: {failed} batch(es) failed, {total - done} left (re-execute from failure once fixed)"
    elif job_status == JobStatus.PROCESSING and not any(b[3] == BatchStatus.PROCESSING for b in batches):
        # Nothing is running: the run was stopped (or is between two steps).
        job_status = f"paused, {total - done} batch(es) left (import it again, or re-execute from failure, to resume)"
    elif job_status == JobStatus.FAILED and total > done:
        job_status = f"failed, {total - done} batch(es) left"
    lines = [
        f"Extract {number} ({kind}, snapshot {snapshot})  job {job_id}: {job_status}  started {started or ''}",
        f"overall  {bar(done, total, 32)}  {percent:3d}%  {done}/{total} batches"
        + (f"   {format_duration(progress.seconds_left)} left" if progress.seconds_left and done < total else ""),
        "",
    ]
    for table in TABLES:
        mine = [b for b in batches if b[0] == table]
        table_done = sum(1 for b in mine if b[3] == BatchStatus.COMPLETED)
        failed = [b for b in mine if b[3] == BatchStatus.FAILED]
        running = [b for b in mine if b[3] == BatchStatus.PROCESSING]
        if not mine:
            state = "nothing to apply"
        elif failed:
            state = f"failed: {failed[0][1]} batch {failed[0][2]}: {failed[0][5]}"
        elif running:
            state = f"processing batch {running[0][2]}/{len(mine)} ({running[0][1]}, {running[0][4]} rows)"
        elif table_done == len(mine):
            state = BatchStatus.COMPLETED.value
        elif table_done:
            state = "partly applied"
        else:
            state = BatchStatus.PENDING.value
        lines.append(f"{table:<14} {bar(table_done, len(mine))}  {table_done:>4}/{len(mine):<4} {state}")
    return "\n".join(lines)


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
