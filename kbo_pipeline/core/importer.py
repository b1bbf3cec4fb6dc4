"""The import's steps as plain functions over a DuckDB connection. The Dagster ops call these one by
one (one step each); `import_extract` runs them all in a row, for the tests and for scripts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from kbo_pipeline.core import failpoints
from kbo_pipeline.core.batch_sizes import TARGET_SECONDS, choose_sizes, validate_config
from kbo_pipeline.core.batches import BatchResult, apply_batch, plan_batches
from kbo_pipeline.core.database import database_of
from kbo_pipeline.core.extract import (
    Extract,
    ExtractError,
    ExtractType,
    parse_file_name,
    read_extract,
    sha256_of,
)
from kbo_pipeline.core.finalize import FinalizeResult, finalize_job
from kbo_pipeline.core.jobs import JobAction, JobStart, begin_job, record_failure
from kbo_pipeline.core.ledger import FailureKind, latest_applied
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline.core.staging import StagedPart, is_staged, stage_extract, staged_parts
from kbo_pipeline.core.work_folders import remove_work_folders, unpack, work_folder
from kbo_pipeline.errors import ConfigError, Refusal, ResourceError


def prepare(
    conn: duckdb.DuckDBPyConnection,
    zip_path: str | Path,
    run_id: str | None = None,
    work_dir: str | Path | None = None,
    reapply_rolled_back: bool = True,
) -> tuple[Extract, JobStart]:
    """Validate the ZIP and start (or resume) its job. A bad extract is recorded as a failed job. A
    replacement (other bytes for an unfinished extract) removes what the attempt it replaces unpacked."""
    create_schema(conn)
    try:
        extract = read_extract(zip_path)
        start = begin_job(conn, extract, run_id, reapply_rolled_back)
        if start.action == JobAction.REPLACE and work_dir is not None:
            remove_job_files(conn, extract.number, work_dir)
        return extract, start
    except (ExtractError, Refusal) as exc:
        number = None
        try:
            number = parse_file_name(Path(zip_path).name)[0]
        except ExtractError:
            pass
        try:
            sha = sha256_of(Path(zip_path))  # so that the sensor knows these bytes failed
        except OSError:
            sha = None
        record_failure(conn, str(exc), file_name=Path(zip_path).name, extract_number=number, file_sha256=sha)
        raise


def extract_of_job(conn: duckdb.DuckDBPyConnection, zip_path: str | Path, job_id: int) -> Extract:
    """The job's extract, read again by a step after the start (steps pass nothing to each other but the
    ledger): refused if the file no longer holds the bytes the job began with."""
    extract = read_extract(zip_path)
    began_with = conn.execute("SELECT file_sha256 FROM import_jobs WHERE job_id = $job_id", {"job_id": job_id})
    if extract.sha256 != began_with.fetchone()[0]:
        raise ExtractError(
            f"the file changed after import job {job_id} began with it; import it again", file=extract.file_name
        )
    return extract


def unpack_job(conn: duckdb.DuckDBPyConnection, extract: Extract, work_dir: str | Path) -> Path:
    """Unpack the job's CSVs into its own work folder (reusing a complete earlier unpacking of the
    same bytes); a failure leaves no folder behind (`stage` records it on the job)."""
    return unpack(extract, work_folder(Path(work_dir), database_of(conn), extract))


def failure_kind(exc: Exception) -> FailureKind:
    """What the ledger says a failure was: the file's content, the resources it ran on, or the settings."""
    if isinstance(exc, ResourceError):
        return FailureKind.RESOURCE
    if isinstance(exc, ConfigError):
        return FailureKind.CONFIG
    return FailureKind.INPUT


def remove_job_files(conn: duckdb.DuckDBPyConnection, extract_number: int, work_dir: str | Path) -> None:
    """Remove every unpacked CSV of that extract for this database (after staging, a replacement, a rollback)."""
    remove_work_folders(Path(work_dir), database_of(conn), extract_number)


def stage(
    conn: duckdb.DuckDBPyConnection,
    extract: Extract,
    job_id: int,
    work_dir: str | Path,
    size_overrides: dict[str, int] | None = None,
    tune: bool = True,
    target_seconds: float = TARGET_SECONDS,
    accept_drift: bool = False,
) -> list[StagedPart]:
    """Stage the job's rows, unless an earlier attempt already did (a resumed import). Batch sizes
    are the configured ones, tuned from recorded batch durations unless `tune` is off. Once staging is
    over, committed or not, the unpacked CSVs are removed: nothing reads them again."""
    if is_staged(conn, job_id):
        remove_job_files(conn, extract.number, work_dir)
        return staged_parts(conn, job_id)
    try:
        validate_config(size_overrides, target_seconds)
        choices, explicit = choose_sizes(conn, extract.extract_type, size_overrides, tune, target_seconds)
        folder = unpack_job(conn, extract, work_dir)
        reconcile = extract.extract_type == ExtractType.FULL and latest_applied(conn) is not None
        parts = stage_extract(conn, job_id, extract, folder, choices, explicit, reconcile, accept_drift)
        failpoints.hit("commit_lost", "staging", extract.number)
        return parts
    except (ExtractError, Refusal, ResourceError, ConfigError) as exc:
        record_failure(conn, str(exc), job_id=job_id, kind=failure_kind(exc))
        raise
    finally:
        remove_job_files(conn, extract.number, work_dir)


def finish(conn: duckdb.DuckDBPyConnection, job_id: int, extract_number: int, work_dir: str | Path) -> FinalizeResult:
    result = finalize_job(conn, job_id)
    remove_job_files(conn, extract_number, work_dir)
    return result


@dataclass(frozen=True)
class ImportResult:
    extract: Extract
    start: JobStart
    batches: tuple[BatchResult, ...] = ()
    final: FinalizeResult | None = None


def import_extract(
    conn: duckdb.DuckDBPyConnection,
    zip_path: str | Path,
    work_dir: str | Path,
    size_overrides: dict[str, int] | None = None,
    accept_drift: bool = False,
) -> ImportResult:
    """Apply one extract from start to end without Dagster (same steps, same transactions)."""
    extract, start = prepare(conn, zip_path, work_dir=work_dir)
    if not start.needs_work:
        return ImportResult(extract, start)
    stage(conn, extract, start.job_id, work_dir, size_overrides, accept_drift=accept_drift)
    results = tuple(apply_batch(conn, batch) for batch in plan_batches(conn, start.job_id))
    return ImportResult(extract, start, results, finish(conn, start.job_id, extract.number, work_dir))
