"""A small JSON copy of what the ledger says is applied, written beside the database after every run.

The sensor reads it instead of opening the database, so that a tick never waits for (or fails on) the
DuckDB lock a running import holds. The database stays the source of truth: this file is rewritten
from it, and when it is missing the sensor reads the database itself.
"""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kbo_pipeline.core.database import connect_read_only, database_exists
from kbo_pipeline.core.import_lock import sidecar
from kbo_pipeline.core.ledger import UNFINISHED_JOBS, JobStatus


def state_path(database: str) -> Path:
    return sidecar(database, ".ledger.json")


def read_ledger(conn: duckdb.DuckDBPyConnection) -> dict:
    rows = conn.execute(
        "SELECT extract_number, extract_type, status, file_sha256 FROM import_jobs WHERE extract_number IS NOT NULL"
    ).fetchall()
    completed = [r for r in rows if r[2] == JobStatus.COMPLETED]
    return {
        "latest_applied": max((r[0] for r in completed), default=None),
        "applied": sorted(r[0] for r in completed),
        "fulls": sorted(r[0] for r in completed if r[1] == "full"),
        "unfinished": {str(r[0]): {"status": r[2], "sha256": r[3]} for r in rows if r[2] in UNFINISHED_JOBS},
    }


def write_state(database: str, state: dict) -> Path:
    path = state_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({**state, "written_at": datetime.now(UTC).isoformat()}, indent=1))
    partial.replace(path)
    return path


def load_state(database: str) -> dict | None:
    try:
        return json.loads(state_path(database).read_text())
    except (OSError, ValueError):
        return None


def current_ledger(database: str) -> dict | None:
    """The state file; without one, the database itself, read-only, if no import holds it (None then)."""
    state = load_state(database)
    if state is not None:
        return state
    if not database_exists(database):
        return {"latest_applied": None, "unfinished": {}}
    try:
        with connect_read_only(database) as conn:
            return read_ledger(conn)
    except duckdb.Error:
        return None
