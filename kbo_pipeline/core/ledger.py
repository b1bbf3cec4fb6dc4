"""The ledger's vocabulary: the states of an import job and of a batch (sql/ledger.sql stores them as
text), and what it says has been applied. Every module reads and writes states through these names;
SQL gets them as bound parameters."""

from __future__ import annotations

from enum import StrEnum

import duckdb


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
