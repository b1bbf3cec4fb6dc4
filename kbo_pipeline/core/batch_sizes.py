"""Batch sizes tuned from experience (docs/design.md, decision 1): aim each batch at a target duration,
from the durations recorded in import_job_batches for that table and operation; grow sizes when
batches are quick, shrink them when they are slow. Bounded around the configured sizes; sizes set
explicitly in config are used as they are."""

from dataclasses import dataclass

import duckdb

TARGET_SECONDS = 2.0
RECENT_BATCHES = 20  # per table and operation
BOUND = 8  # a tuned size stays within configured / 8 ... configured * 8


@dataclass(frozen=True)
class SizeChoice:
    size: int
    reason: str


def tuned_sizes(
    conn: duckdb.DuckDBPyConnection,
    extract_type: str,
    configured: dict[tuple[str, str], int],
    explicit: frozenset = frozenset(),
    target_seconds: float = TARGET_SECONDS,
) -> dict[tuple[str, str], SizeChoice]:
    history = {
        (table, operation): (int(rows), float(seconds or 0), int(batches))
        for table, operation, rows, seconds, batches in conn.execute(
            "SELECT table_name, operation, sum(records_count), sum(epoch(completed_at - started_at)), count(*) FROM ("
            "  SELECT b.table_name, b.operation, b.records_count, b.started_at, b.completed_at, row_number() OVER ("
            "    PARTITION BY b.table_name, b.operation ORDER BY b.completed_at DESC) AS recent"
            "  FROM import_job_batches b JOIN import_jobs j USING (job_id)"
            "  WHERE b.status = 'completed' AND b.records_count > 0 AND j.extract_type = $type"
            ") WHERE recent <= $recent GROUP BY ALL",
            {"type": extract_type, "recent": RECENT_BATCHES},
        ).fetchall()
    }
    choices = {}
    for part, size in configured.items():
        if part in explicit:
            choices[part] = SizeChoice(size, "set in config")
            continue
        if part not in history:
            choices[part] = SizeChoice(size, "default (no batches of this kind recorded yet)")
            continue
        rows, seconds, batches = history[part]
        low, high = max(1, size // BOUND), size * BOUND
        if seconds <= 0:
            choices[part] = SizeChoice(high, f"grown to the bound: {batches} recent batches took no measurable time")
            continue
        rate = rows / seconds
        tuned = min(max(int(rate * target_seconds), low), high)
        verb = "grown" if tuned > size else "shrunk" if tuned < size else "kept"
        choices[part] = SizeChoice(
            tuned, f"{verb} from {size:,}: {batches} recent batches ran {rate:,.0f} rows/s; target {target_seconds:g} s"
        )
    return choices
