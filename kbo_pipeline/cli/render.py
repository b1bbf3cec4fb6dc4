"""What `kbo` prints: the ledger's jobs and one job's progress as text, and what an extract changed.
The data comes from core/ (progress.py, changes.py); this only lays it out."""

from __future__ import annotations

import duckdb

from kbo_pipeline.core.changes import KINDS, TableChanges
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.ledger import BatchStatus, JobStatus
from kbo_pipeline.core.progress import format_duration, job_detail, recent_jobs


def bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "█" * filled + "░" * (width - filled)


def jobs_table(conn: duckdb.DuckDBPyConnection, limit: int = 20) -> str:
    rows = recent_jobs(conn, limit)
    if not rows:
        return "no import jobs"
    lines = [
        f"{'job':>4} {'extract':>7} {'type':<6} {'snapshot':<10} {'status':<11} {'deleted':>8} {'inserted':>9}  completed"
    ]
    for job_id, number, kind, snapshot, status, deleted, inserted, _started, completed, error in rows:
        lines.append(
            f"{job_id:>4} {number if number is not None else '?':>7} {kind or '?':<6} {snapshot or ''!s:<10} "
            f"{status:<11} {deleted if deleted is not None else '':>8} {inserted if inserted is not None else '':>9}  "
            f"{completed or ''}"
        )
        if error:
            lines.append(f"     error: {error}")
    return "\n".join(lines)


def job_report(conn: duckdb.DuckDBPyConnection, job_id: int | None = None) -> str:
    job = job_detail(conn, job_id)
    if job is None:
        return "no import job"
    batches, progress = job.batches, job.progress
    done, total, percent = progress.done, progress.total, progress.percent
    job_status = job.status
    failed = sum(1 for b in batches if b[3] == BatchStatus.FAILED)
    if job_status == JobStatus.PROCESSING and failed:
        job_status = f"failed: {failed} batch(es) failed, {total - done} left (re-execute from failure once fixed)"
    elif job_status == JobStatus.PROCESSING and not any(b[3] == BatchStatus.PROCESSING for b in batches):
        # Nothing is running: the run was stopped (or is between two steps).
        job_status = f"paused, {total - done} batch(es) left (import it again, or re-execute from failure, to resume)"
    elif job_status == JobStatus.FAILED and total > done:
        job_status = f"failed, {total - done} batch(es) left"
    lines = [
        f"Extract {job.extract_number} ({job.extract_type}, snapshot {job.snapshot_date})  job {job.job_id}: "
        f"{job_status}  started {job.started_at or ''}",
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


def format_summary(extract_number: int, tables: list[TableChanges]) -> str:
    header = ("table", "added", "retired", *KINDS, "enterprises")
    lines = [
        [t.table, t.rows_added, t.rows_retired, *(getattr(t, kind) for kind in KINDS), t.enterprises] for t in tables
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]

    def line(cells) -> str:
        return "  ".join(
            (f"{c:<{w}}" if i == 0 else f"{c:>{w}}") if isinstance(c, str) else f"{c:>{w},}"
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    notes = (
        "rows: added and retired by the extract; keys by kind: new (never seen before), stopped (retired, "
        "not added back), changed (added back with other values), unchanged (re-delivered identically), "
        "renamed (an enterprise's names changed by its denominations alone)"
    )
    return "\n".join([f"Extract {extract_number}: what it changed", line(header), *map(line, lines), notes])


def format_rows(columns: list[str], rows: list[tuple]) -> str:
    text = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in text]
    return "\n".join([*out, f"({len(rows):,} rows)"])
