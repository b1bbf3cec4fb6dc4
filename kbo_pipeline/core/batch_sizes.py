"""How many rows go in one batch, for every table and operation, and why.

Three stages: the configured sizes (the spec's defaults per extract type, overridden in config);
tuned from experience (docs/design.md, decision 1): aim each batch at a target duration, from the
durations recorded in import_job_batches, bounded around the configured size, sizes set explicitly
kept as they are; then fitted to the extract's row counts: a small extract is one batch per table and
operation, a huge one a bounded number of batches."""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from kbo_pipeline.core.entities import FULL_BATCH_SIZES, OPERATIONS, SINGLE_BATCH_THRESHOLD, TABLES, UPDATE_BATCH_SIZES
from kbo_pipeline.core.extract import ExtractType
from kbo_pipeline.core.ledger import BatchStatus
from kbo_pipeline.errors import ConfigError

Part = tuple[str, str]  # (table, operation)

TARGET_SECONDS = 2.0
RECENT_BATCHES = 20  # per table and operation
BOUND = 8  # a tuned size stays within configured / 8 ... configured * 8
# At most this many batches per table and operation unless sizes are set explicitly: a 7 M-row
# update is then tens of steps, not thousands (14 parts x 25 = 350 steps at the very most).
MAX_BATCHES_PER_PART = 25
SMALL_REASON = f"one batch: the extract has fewer than {SINGLE_BATCH_THRESHOLD:,} rows in all"


@dataclass(frozen=True)
class SizeChoice:
    size: int
    reason: str


def configured_sizes(extract_type: str, overrides: dict[str, int] | None = None) -> dict[Part, int]:
    """Rows per batch for every (table, operation). Overrides are keyed `<table>` or
    `<table>_<operation>` (the more specific wins); the defaults depend on the extract type."""
    overrides = overrides or {}
    unknown = set(overrides) - set(TABLES) - {f"{t}_{o}" for t in TABLES for o in OPERATIONS}
    if unknown:
        raise ConfigError(f"unknown batch size keys: {', '.join(sorted(unknown))}")
    defaults = FULL_BATCH_SIZES if extract_type == ExtractType.FULL else UPDATE_BATCH_SIZES
    sizes = {}
    for table in TABLES:
        for operation in OPERATIONS:
            size = overrides.get(f"{table}_{operation}", overrides.get(table, defaults[table]))
            if size < 1:
                raise ConfigError(f"batch size for {table} {operation} must be at least 1, not {size}")
            sizes[(table, operation)] = size
    return sizes


def validate_config(overrides: dict[str, int] | None, target_seconds: float) -> None:
    """The staging step's settings, checked before anything is written (the Launchpad takes any number)."""
    configured_sizes(ExtractType.UPDATE, overrides)
    configured_sizes(ExtractType.FULL, overrides)
    if not math.isfinite(target_seconds) or target_seconds <= 0:
        raise ConfigError(f"target_batch_seconds must be a positive number of seconds, not {target_seconds}")


def overridden(part: Part, overrides: dict[str, int] | None) -> bool:
    table, operation = part
    return bool(overrides) and (table in overrides or f"{table}_{operation}" in overrides)


def choose_sizes(
    conn: duckdb.DuckDBPyConnection,
    extract_type: str,
    overrides: dict[str, int] | None = None,
    tune: bool = True,
    target_seconds: float = TARGET_SECONDS,
) -> tuple[dict[Part, SizeChoice], frozenset]:
    """The configured sizes, tuned unless `tune` is off; and the parts whose size config set."""
    sizes = configured_sizes(extract_type, overrides)
    explicit = frozenset(part for part in sizes if overridden(part, overrides))
    if tune:
        return tuned_sizes(conn, extract_type, sizes, explicit, target_seconds), explicit
    return {p: SizeChoice(size, "set in config" if p in explicit else "default") for p, size in sizes.items()}, explicit


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
            "  WHERE b.status = $completed AND b.records_count > 0 AND j.extract_type = $type"
            ") WHERE recent <= $recent GROUP BY ALL",
            {"type": extract_type, "recent": RECENT_BATCHES, "completed": BatchStatus.COMPLETED},
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


def plan_batch_sizes(
    counts: dict[Part, int], sizes: dict[Part, int], explicit: frozenset = frozenset()
) -> dict[Part, int]:
    """Rows per batch for each (table, operation): the size given, except that a small extract (fewer
    than SINGLE_BATCH_THRESHOLD rows in all) is one batch per table and operation where no size was
    set explicitly."""
    small = sum(counts.values()) < SINGLE_BATCH_THRESHOLD
    planned = {}
    for part, rows in counts.items():
        if small and part not in explicit:
            planned[part] = max(rows, 1)
        elif part in explicit:
            planned[part] = sizes[part]
        else:  # a huge update stays a bounded number of steps
            planned[part] = max(sizes[part], -(-rows // MAX_BATCHES_PER_PART))
    return planned


def fit_to_counts(
    choices: dict[Part, SizeChoice], counts: dict[Part, int], explicit: frozenset
) -> dict[Part, SizeChoice]:
    """The chosen sizes fitted to the extract's row counts (plan_batch_sizes), each with its reason."""
    planned = plan_batch_sizes(counts, {p: c.size for p, c in choices.items()}, explicit)
    fitted = {}
    for part, size in planned.items():
        if size == choices[part].size:
            fitted[part] = choices[part]
        elif size > choices[part].size and sum(counts.values()) >= SINGLE_BATCH_THRESHOLD:
            fitted[part] = SizeChoice(
                size, f"raised from {choices[part].size:,} to keep it at most {MAX_BATCHES_PER_PART} batches"
            )
        else:
            fitted[part] = SizeChoice(size, SMALL_REASON)
    return fitted
