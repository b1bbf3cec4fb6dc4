"""Planning the batches of a job and applying one batch: its data change and its ledger row in one
transaction. A completed batch is never applied again, so re-running one changes nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from functools import cache

import duckdb

from kbo_pipeline.core import failpoints, ledger
from kbo_pipeline.core.database import is_interrupt, transaction
from kbo_pipeline.core.entities import ENTITY_BY_TABLE, TABLES, Operation
from kbo_pipeline.core.ledger import UNFINISHED_BATCHES, BatchStatus
from kbo_pipeline.core.row_changes import change_rows
from kbo_pipeline.core.templates import render
from kbo_pipeline.errors import FinalError


@dataclass(frozen=True)
class Batch:
    job_id: int
    table: str
    operation: str
    batch_number: int
    records_count: int
    batches_in_part: int  # batches of this table and operation
    extract_number: int
    snapshot_date: date

    @property
    def mapping_key(self) -> str:
        """Dagster mapping key: `activity_insert_0003`."""
        return ledger.batch_name(self.table, self.operation, self.batch_number)


@dataclass(frozen=True)
class BatchResult:
    batch: Batch
    rows_affected: int
    seconds: float
    skipped: bool = False  # completed earlier: nothing done this time


def plan_batches(
    conn: duckdb.DuckDBPyConnection, job_id: int, statuses: tuple[str, ...] = UNFINISHED_BATCHES
) -> list[Batch]:
    """The job's batches in those states, in the order they run: per table, deletes before inserts (the
    SQL makes the result independent of that order; running in it just reads naturally)."""
    rows = conn.execute(
        "SELECT b.table_name, b.operation, b.batch_number, b.records_count, b.status, "
        "count(*) OVER (PARTITION BY b.table_name, b.operation), j.extract_number, j.snapshot_date "
        "FROM import_job_batches b JOIN import_jobs j USING (job_id) WHERE b.job_id = $job_id",
        {"job_id": job_id},
    ).fetchall()
    order = {table: i for i, table in enumerate(TABLES)}
    batches = [
        Batch(job_id, table, operation, number, count, per_part, extract_number, snapshot)
        for table, operation, number, count, status, per_part, extract_number, snapshot in rows
        if status in statuses
    ]
    return sorted(batches, key=lambda b: (order[b.table], b.operation != Operation.DELETE, b.batch_number))


RETIRED = ("_is_current", "_deleted_at_extract")  # the columns a delete batch changes


@cache
def _apply_sql(table: str, operation: str) -> str:
    return render(f"apply_{operation}.sql", ENTITY_BY_TABLE[table])


def _apply(conn: duckdb.DuckDBPyConnection, batch: Batch, params: dict) -> int:
    sql = _apply_sql(batch.table, batch.operation)
    if batch.operation == Operation.DELETE:
        return change_rows(conn, ENTITY_BY_TABLE[batch.table], sql, params, RETIRED)
    return conn.execute(sql, params).fetchone()[0]


def _key_params(batch: Batch) -> dict:
    return {
        "job_id": batch.job_id,
        "table": batch.table,
        "batch_number": batch.batch_number,
        "operation": batch.operation,
    }


def apply_batch(conn: duckdb.DuckDBPyConnection, batch: Batch) -> BatchResult:
    """Apply one batch. Marks it processing (committed, so progress shows), then applies it and marks it
    completed in one transaction; on error the data change rolls back and the batch is marked failed."""
    started = time.monotonic()
    key = _key_params(batch)
    status = ledger.batch_status(conn, key)
    if status is None:
        raise FinalError(f"no batch {batch.mapping_key} in job {batch.job_id}")
    if status == BatchStatus.COMPLETED:
        return BatchResult(batch, 0, 0.0, skipped=True)
    try:
        # Inside the try: a stop that lands just after this commit must still put the batch back to
        # pending, not leave it 'processing' with nothing running it.
        ledger.start_batch(conn, key)
        with transaction(conn):
            # Checked again inside the transaction: a concurrent attempt may have completed it meanwhile.
            if ledger.batch_status(conn, key) == BatchStatus.COMPLETED:
                return BatchResult(batch, 0, 0.0, skipped=True)
            failpoints.hit("before_sql", batch.mapping_key, batch.extract_number)
            params = {"job_id": batch.job_id, "batch_number": batch.batch_number, "extract": batch.extract_number}
            if batch.operation == Operation.INSERT:
                params["snapshot_date"] = batch.snapshot_date
            rows = _apply(conn, batch, params)
            ledger.complete_batch(conn, key, rows)
            failpoints.hit("before_commit", batch.mapping_key, batch.extract_number)
        failpoints.hit("commit_lost", batch.mapping_key, batch.extract_number)
    except Exception as exc:
        if is_interrupt(exc):
            # DuckDB turns an interrupt that arrives mid-statement into an exception: still a stop, not
            # a failure (database.connect raises it on as KeyboardInterrupt).
            mark_failed(conn, batch, "interrupted: the run was stopped", status=BatchStatus.PENDING)
        else:
            mark_failed(conn, batch, f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:
        # Interrupted (the run was terminated, Ctrl-C): rolled back, so it simply waits to run again.
        mark_failed(conn, batch, "interrupted: the run was stopped", status=BatchStatus.PENDING)
        raise
    return BatchResult(batch, int(rows), time.monotonic() - started)


def mark_failed(
    conn: duckdb.DuckDBPyConnection, batch: Batch, error: str, status: BatchStatus = BatchStatus.FAILED
) -> None:
    try:
        ledger.fail_batch(conn, _key_params(batch), error, status)
    except duckdb.Error:
        pass  # the connection itself is broken: the batch stays 'processing' and is retried all the same
