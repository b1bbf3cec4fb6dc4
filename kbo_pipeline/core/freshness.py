"""Is the database being kept up to date? The time since the latest extract was applied, read from the
ledger, against a limit (KBO_MAX_AGE_HOURS): a daily pipeline that stopped shows here, in the UI's
freshness check and in `kbo status`, without anyone looking at the runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from kbo_pipeline.core.ledger import JobStatus, has_table


@dataclass(frozen=True)
class Freshness:
    latest_extract: int | None
    snapshot_date: object  # date of the latest applied extract's data
    applied_at: datetime | None
    age_hours: float | None
    max_age_hours: float

    @property
    def fresh(self) -> bool:
        return self.age_hours is not None and self.age_hours <= self.max_age_hours

    def describe(self) -> str:
        if self.latest_extract is None:
            return f"no extract applied yet (limit {self.max_age_hours:g} h)"
        state = "fresh" if self.fresh else "STALE"
        return (
            f"{state}: extract {self.latest_extract} (snapshot {self.snapshot_date}) applied "
            f"{self.age_hours:.1f} h ago (limit {self.max_age_hours:g} h, KBO_MAX_AGE_HOURS)"
        )


def freshness(conn: duckdb.DuckDBPyConnection, max_age_hours: float, now: datetime | None = None) -> Freshness:
    """The latest applied extract and how long ago it was applied (the ledger's clock: DuckDB's
    current_timestamp, in which completed_at was written)."""
    if not has_table(conn, "import_jobs"):
        return Freshness(None, None, None, None, max_age_hours)
    row = conn.execute(
        "SELECT extract_number, snapshot_date, completed_at, "
        "epoch(coalesce($now::TIMESTAMP, current_timestamp::TIMESTAMP) - completed_at) / 3600 "
        "FROM import_jobs WHERE status = $completed ORDER BY extract_number DESC LIMIT 1",
        {"completed": JobStatus.COMPLETED, "now": now},
    ).fetchone()
    if row is None:
        return Freshness(None, None, None, None, max_age_hours)
    return Freshness(row[0], row[1], row[2], float(row[3]), max_age_hours)
