"""What the landing sensor and `kbo fetch` need of the ledger, read from the database itself.

The database is the one source of truth. A tick opens it read-only (tens of milliseconds, no lock that
a run waits on for long) whenever no other process holds it. Only while a process holds it (an import
running) does the tick fall back to the small JSON copy that every run writes beside the database when
it starts and ends, and then only if that copy parses, names a database id, and was written for the
same database file (its device and inode: the database cannot be opened to compare the id then). A
state file left beside a deleted, rebuilt or restored database, or one that does not parse, is ignored
and said so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kbo_pipeline.core.database import connect_read_only, database_exists, is_lock_conflict, is_motherduck
from kbo_pipeline.core.import_lock import sidecar
from kbo_pipeline.core.ledger import JobStatus, database_id, has_table, latest_applied
from kbo_pipeline.errors import KboError


@dataclass(frozen=True)
class JobState:
    """One extract's job as the ledger has it: status, the file's hash, why it failed (if it did)."""

    job_id: int
    status: str
    file_sha256: str | None
    failure_kind: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class LedgerState:
    """The latest applied extract (None: nothing applied yet) and every job not completed (unfinished or
    rolled back), by extract number; `database_id` None for a database that has no ledger yet."""

    latest_applied: int | None
    database_id: str | None = None
    open_jobs: dict[int, JobState] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerReading:
    """A state, where it came from, and (state None) why there is none this time."""

    state: LedgerState | None
    source: str  # "database", "state file", "no database"
    note: str = ""


def state_path(database: str) -> Path:
    return sidecar(database, ".ledger.json")


def read_ledger(conn: duckdb.DuckDBPyConnection) -> LedgerState:
    if not has_table(conn, "import_jobs"):
        return LedgerState(None)
    ident = database_id(conn)  # None in a ledger made before ids existed: its next run writes one
    rows = conn.execute(
        "SELECT extract_number, job_id, status, file_sha256, failure_kind, error_message FROM import_jobs "
        "WHERE status <> $completed AND extract_number IS NOT NULL",
        {"completed": JobStatus.COMPLETED},
    ).fetchall()
    return LedgerState(latest_applied(conn), ident, {row[0]: JobState(*row[1:]) for row in rows})


def _file_identity(database: str) -> list[int] | None:
    if is_motherduck(database):
        return None
    try:
        stat = os.stat(database)
    except OSError:
        return None
    return [stat.st_dev, stat.st_ino]


def write_state(database: str, state: LedgerState) -> Path | None:
    """The state file beside a local database; none for MotherDuck, whose clients share no folder: its
    ledger is read from the database itself."""
    if is_motherduck(database):
        return None
    path = state_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.tmp")
    content = {
        "database_id": state.database_id,
        "database_file": _file_identity(database),
        "latest_applied": state.latest_applied,
        "open_jobs": {str(number): asdict(job) for number, job in state.open_jobs.items()},
        "written_at": datetime.now(UTC).isoformat(),
    }
    partial.write_text(json.dumps(content, indent=1))
    partial.replace(path)
    return path


def load_state(database: str) -> tuple[LedgerState | None, str]:
    """The state file, checked: (state, "") or (None, why it is not to be trusted)."""
    path = state_path(database)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"no ledger state file {path}"
    except (OSError, ValueError) as exc:
        return None, f"ledger state file {path} ignored: unreadable ({exc})"
    try:
        latest, ident = content["latest_applied"], content["database_id"]
        if latest is not None and (type(latest) is not int or latest < 0):
            raise TypeError(f"latest_applied is {latest!r}, not an extract number")
        if type(ident) is not str or not ident:
            raise TypeError("it names no database id")
        jobs = {int(number): JobState(**job) for number, job in content.get("open_jobs", {}).items()}
        if any(type(job.job_id) is not int or type(job.status) is not str for job in jobs.values()):
            raise TypeError("a job entry is malformed")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return None, f"ledger state file {path} ignored: malformed ({exc})"
    if content.get("database_file") != _file_identity(database):
        return None, f"ledger state file {path} ignored: written for another file at {database} (rebuilt or restored)"
    return LedgerState(latest, ident, jobs), ""


def current_ledger(database: str) -> LedgerReading:
    """The ledger, from the database (read-only) when no other process holds it; while one does, the
    state file if it names this database; otherwise no state, and why."""
    if not database_exists(database):
        stale = state_path(database)
        note = f"no database at {database}: its old ledger state file {stale} ignored" if stale.exists() else ""
        return LedgerReading(LedgerState(None), "no database", note)
    try:
        with connect_read_only(database) as conn:
            return LedgerReading(read_ledger(conn), "database")
    except KboError as exc:  # MotherDuck unreachable, or a client it refuses
        return LedgerReading(None, "database", str(exc))
    except duckdb.Error as exc:
        if not is_lock_conflict(exc):
            return LedgerReading(None, "database", f"{database} cannot be read: {str(exc).splitlines()[0]}")
        if is_motherduck(database):  # the test seam's file, held by a run: MotherDuck keeps no state file
            return LedgerReading(None, "database", f"{database} is busy (a run holds it); the next tick reads it")
    state, why = load_state(database)
    if state is None:
        return LedgerReading(None, "state file", f"{database} is busy (another process holds it) and {why}")
    return LedgerReading(state, "state file")
