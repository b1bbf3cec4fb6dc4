"""Import jobs: which extract may be applied next, and starting, resuming or replacing its job.

What has been applied is read from the database's own ledger, never from the Dagster instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import duckdb

from kbo_pipeline.core import ledger
from kbo_pipeline.core.database import transaction
from kbo_pipeline.core.extract import Extract, ExtractType
from kbo_pipeline.core.ledger import UNFINISHED_JOBS, FailureKind, JobStatus, latest_applied
from kbo_pipeline.core.rollback import undo_extract_rows
from kbo_pipeline.core.staging import drop_job_staging
from kbo_pipeline.errors import Refusal


class JobAction(StrEnum):
    """What begin_job decided for an extract."""

    NEW = "new"
    RESUME = "resume"  # same bytes as an unfinished job: carry on where it stopped
    REPLACE = "replace"  # other bytes for an unfinished job: undo it and start again
    ALREADY_APPLIED = "already_applied"  # applied, or older than the latest applied: nothing to do
    LEFT_ROLLED_BACK = "left_rolled_back"  # rolled back, and this run may not apply it again (the sensor's)


@dataclass(frozen=True)
class JobStart:
    job_id: int | None
    action: JobAction
    message: str

    @property
    def needs_work(self) -> bool:
        return self.action not in (JobAction.ALREADY_APPLIED, JobAction.LEFT_ROLLED_BACK)


class OutOfSequence(Refusal):
    """The extract may not be applied before another: a missing predecessor, or an unfinished extract."""

    def __init__(self, problem: str, *, waits_for: int, **fields):
        super().__init__(problem, **fields)
        self.waits_for = waits_for  # the extract to apply (or finish, or roll back) first


def _check_sequence(conn: duckdb.DuckDBPyConnection, extract: Extract) -> None:
    applied = latest_applied(conn)
    blocking = conn.execute(
        "SELECT j.extract_number FROM import_jobs j WHERE list_contains($unfinished, j.status) "
        "AND j.extract_number <> $number AND j.staged_at IS NOT NULL ORDER BY 1 LIMIT 1",
        {"number": extract.number, "unfinished": list(UNFINISHED_JOBS)},
    ).fetchone()
    if blocking:
        raise OutOfSequence(
            f"extract {blocking[0]} is not finished; resume it (import it again) "
            f"or roll it back before applying extract {extract.number}",
            file=extract.file_name,
            extract_number=extract.number,
            waits_for=blocking[0],
        )
    if applied is None:
        return
    if extract.extract_type == ExtractType.FULL:
        return  # a Full is the whole register: reconciled with what the database holds, no gap to mind
    if extract.number > applied + 1:
        raise OutOfSequence(
            f"out of sequence: extract {applied + 1} is missing (latest applied is {applied}, this is {extract.number})",
            file=extract.file_name,
            extract_number=extract.number,
            waits_for=applied + 1,
        )


def _reset_job(conn: duckdb.DuckDBPyConnection, job_id: int, extract_number: int) -> None:
    """Forget an earlier attempt's work: undo whatever its batches applied, drop its staging (its batches
    go with ledger.restart_job)."""
    undo_extract_rows(conn, extract_number)
    drop_job_staging(conn, job_id)


def begin_job(
    conn: duckdb.DuckDBPyConnection, extract: Extract, run_id: str | None = None, reapply_rolled_back: bool = True
) -> JobStart:
    """Start the job of an extract, resume its unfinished job (same bytes) or replace it (other bytes).

    Raises OutOfSequence for an extract out of sequence; an extract already applied (or older than the
    latest applied, so contained in it) is not an error: nothing to do. A rolled-back extract is applied
    again only when `reapply_rolled_back` (a person's import); the landing sensor's runs leave the same
    bytes rolled back, decided here, in the transaction, so that a rollback between the sensor's look at
    the ledger and its run's start still holds.
    """
    with transaction(conn):
        existing = conn.execute(
            "SELECT job_id, status, file_sha256, started_at FROM import_jobs WHERE extract_number = $number",
            {"number": extract.number},
        ).fetchone()
        if existing and existing[1] == JobStatus.COMPLETED:
            return JobStart(
                existing[0], JobAction.ALREADY_APPLIED, f"extract {extract.number} is already applied: nothing to do"
            )
        applied = latest_applied(conn)
        if applied is not None and extract.number <= applied:
            return JobStart(
                None,
                JobAction.ALREADY_APPLIED,
                f"extract {extract.number} is older than the latest applied extract {applied}: nothing to do",
            )
        _check_sequence(conn, extract)
        values = {
            "number": extract.number,
            "type": extract.extract_type,
            "snapshot": extract.snapshot_date,
            "timestamp": extract.extract_timestamp,
            "file_name": extract.file_name,
            "sha": extract.sha256,
        }
        if existing is None:
            job_id = ledger.open_job(conn, values, run_id)
            return JobStart(job_id, JobAction.NEW, f"extract {extract.number}: new import job {job_id}")
        job_id, status, sha, started_at = existing
        if status == JobStatus.ROLLED_BACK and sha == extract.sha256 and not reapply_rolled_back:
            return JobStart(
                job_id,
                JobAction.LEFT_ROLLED_BACK,
                f"extract {extract.number} was rolled back (job {job_id}): left as it is; "
                f"`kbo import {extract.file_name}` applies it again",
            )
        # A row record_failure wrote for a file refused before its job began (started_at NULL) has the
        # file's hash, so that the sensor knows those bytes failed, but nothing to resume.
        if sha == extract.sha256 and status != JobStatus.ROLLED_BACK and started_at is not None:
            ledger.resume_job(conn, job_id, run_id)
            return JobStart(
                job_id, JobAction.RESUME, f"extract {extract.number}: resuming import job {job_id} ({status})"
            )
        _reset_job(conn, job_id, extract.number)
        ledger.restart_job(conn, job_id, values, run_id)
        return JobStart(
            job_id, JobAction.REPLACE, f"extract {extract.number}: a new file replaces the {status} import job {job_id}"
        )


def record_failure(
    conn: duckdb.DuckDBPyConnection,
    error: str,
    *,
    job_id: int | None = None,
    file_name: str | None = None,
    extract_number: int | None = None,
    kind: FailureKind = FailureKind.INPUT,
    file_sha256: str | None = None,
) -> None:
    """Mark a job failed with its error and its kind (the file's content, or the resources it ran on); a
    file that never became a job gets a failed row of its own."""
    with transaction(conn):
        ledger.fail_job(
            conn,
            error,
            kind,
            job_id=job_id,
            extract_number=extract_number,
            file_name=file_name,
            file_sha256=file_sha256,
        )
