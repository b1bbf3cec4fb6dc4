"""A small JSON copy of what the ledger says is applied, written beside the database after every run.

The sensor reads it instead of opening the database, so that a tick never waits for (or fails on) the
DuckDB lock a running import holds. The database stays the source of truth: this file is rewritten
from it, and when it is missing the sensor reads the database itself.
"""

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kbo_pipeline.core.database import connect_read_only, database_exists
from kbo_pipeline.core.import_lock import sidecar
from kbo_pipeline.core.ledger import latest_applied


@dataclass(frozen=True)
class LedgerState:
    """What a tick needs of the ledger: the latest applied extract (None: nothing applied yet)."""

    latest_applied: int | None


def state_path(database: str) -> Path:
    return sidecar(database, ".ledger.json")


def read_ledger(conn: duckdb.DuckDBPyConnection) -> LedgerState:
    return LedgerState(latest_applied(conn))


def write_state(database: str, state: LedgerState) -> Path:
    path = state_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({**asdict(state), "written_at": datetime.now(UTC).isoformat()}, indent=1))
    partial.replace(path)
    return path


def load_state(database: str) -> LedgerState | None:
    try:
        return LedgerState(json.loads(state_path(database).read_text())["latest_applied"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def current_ledger(database: str) -> LedgerState | None:
    """The state file; without one, the database itself, read-only, if no import holds it (None then)."""
    state = load_state(database)
    if state is not None:
        return state
    if not database_exists(database):
        return LedgerState(None)
    try:
        with connect_read_only(database) as conn:
            return read_ledger(conn)
    except duckdb.Error:
        return None
