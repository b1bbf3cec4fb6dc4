"""Rolling back an extract: the rows it inserted go, the rows it retired are current again, primary
names are recomputed, `code` is restored, and its job is marked rolled back. One transaction."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from kbo_pipeline.core import ledger
from kbo_pipeline.core.database import database_of, transaction
from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.core.ledger import UNFINISHED_JOBS, JobStatus, latest_applied
from kbo_pipeline.core.primary_names import forget_name_changes, mark_touched, resolve_touched
from kbo_pipeline.core.staging import drop_job_staging
from kbo_pipeline.core.templates import render
from kbo_pipeline.core.work_folders import remove_work_folders
from kbo_pipeline.errors import FinalError


class RollbackError(FinalError):
    """A rollback refused: it would leave the history inconsistent."""


@dataclass(frozen=True)
class RollbackResult:
    extract_number: int
    job_id: int
    rows_removed: int
    rows_restored: int
    names_resolved: int
    code_restored: bool


def undo_extract_rows(conn: duckdb.DuckDBPyConnection, extract_number: int) -> tuple[int, int]:
    """Undo what extract N did to every entity table (and forget the names it changed); returns (rows
    removed, rows made current again)."""
    forget_name_changes(conn, extract_number)
    removed = restored = 0
    for entity in ENTITIES:
        removed += conn.execute(render("rollback_delete.sql", entity), {"extract": extract_number}).fetchone()[0]
        restored += conn.execute(render("rollback_restore.sql", entity), {"extract": extract_number}).fetchone()[0]
    return removed, restored


def rollback_extract(
    conn: duckdb.DuckDBPyConnection, extract_number: int, work_dir: Path | str | None = None
) -> RollbackResult:
    """Undo extract N: the latest applied one, or an unfinished one newer than that. With `work_dir`,
    whatever of it is still unpacked there (an interrupted attempt) is removed too."""
    with transaction(conn):
        job = conn.execute(
            "SELECT job_id, status FROM import_jobs WHERE extract_number = $n", {"n": extract_number}
        ).fetchone()
        if job is None or job[1] == JobStatus.ROLLED_BACK:
            raise RollbackError(f"extract {extract_number} is not applied: nothing to roll back")
        job_id, status = job
        latest = latest_applied(conn)
        if status == JobStatus.COMPLETED and extract_number != latest:
            raise RollbackError(
                f"extract {extract_number} is not the latest applied extract ({latest}): roll back {latest} first"
            )
        if status != JobStatus.COMPLETED and latest is not None and extract_number < latest:
            raise RollbackError(f"extract {extract_number} is older than the latest applied extract {latest}")
        newer = conn.execute(
            "SELECT extract_number, status FROM import_jobs WHERE extract_number > $n "
            "AND list_contains($unfinished, status) ORDER BY 1 DESC LIMIT 1",
            {"n": extract_number, "unfinished": list(UNFINISHED_JOBS)},
        ).fetchone()
        if newer:
            # Whatever its batches did, its staging was computed against the state with extract N (a
            # Full's difference above all): undoing N under it would make a resume apply the wrong rows.
            raise RollbackError(
                f"extract {newer[0]} is {newer[1]} (staged on top of extract {extract_number}): roll back "
                f"{newer[0]} first (`kbo rollback {newer[0]}`), or finish it (`kbo import` its file again)"
            )
        mark_touched(conn, extract_number)
        removed, restored = undo_extract_rows(conn, extract_number)
        names = resolve_touched(conn)
        backup = conn.execute("SELECT count(*) FROM import_code_backup WHERE job_id = $j", {"j": job_id}).fetchone()[0]
        if status == JobStatus.COMPLETED and backup:
            conn.execute("DELETE FROM code")
            conn.execute(
                "INSERT INTO code SELECT category, code, language, description FROM import_code_backup WHERE job_id = $j",
                {"j": job_id},
            )
            conn.execute("DELETE FROM import_code_backup WHERE job_id = $j", {"j": job_id})
        drop_job_staging(conn, job_id)
        ledger.roll_back_job(conn, job_id)
    if work_dir is not None:
        remove_work_folders(Path(work_dir), database_of(conn), extract_number)
    return RollbackResult(
        extract_number, job_id, removed, restored, names, bool(status == JobStatus.COMPLETED and backup)
    )
