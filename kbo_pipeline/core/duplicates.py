"""Duplicate rows in an extract's insert files, which real files have and which are not errors.

Within one insert file, identical rows are one row (the first is kept), and in a table of one row per
key (enterprise, establishment, branch) the last row of a key wins, as in NewAgeKBO. The redundant rows
are dropped from staging before batches are planned, in an Update and a Full alike, and reported with
their file and line numbers: in the job's ledger row, the staging step's metadata and a warning.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import duckdb

from kbo_pipeline.core import ledger
from kbo_pipeline.core.entities import Entity
from kbo_pipeline.core.templates import render

LINES_LISTED = 20  # in a warning; the ledger keeps up to LINES_KEPT
LINES_KEPT = 1000


@dataclass(frozen=True)
class Duplicates:
    table: str
    member: str  # the insert file, inside the ZIP
    last_wins: bool  # a key repeated (the last row kept), or identical rows (the first kept)
    dropped: int
    lines: tuple[int, ...]  # the dropped rows' line numbers in the file (the header is line 1), first LINES_KEPT

    def warning(self, file_name: str) -> str:
        rule = (
            "rows whose key a later row of the file repeats (the last row of a key wins)"
            if self.last_wins
            else "rows identical to an earlier row of the file (kept once)"
        )
        listed = ", ".join(str(line) for line in self.lines[:LINES_LISTED])
        more = f" and {self.dropped - LINES_LISTED:,} more" if self.dropped > LINES_LISTED else ""
        return f"{file_name}/{self.member}: {self.dropped:,} {rule} dropped: line{'s' if self.dropped > 1 else ''} {listed}{more}"


def drop_duplicates(
    conn: duckdb.DuckDBPyConnection,
    entity: Entity,
    job_id: int,
    member: str,
    target: str | None = None,
    extract_number: int | None = None,
) -> Duplicates | None:
    """Delete the redundant rows of job_id's staged insert file `member` of `entity` from `target` (its
    staging table by default); what was dropped, with the lines in file order (None: nothing). With
    `extract_number`, the file was read straight into the entity table: its rows are that extract's."""
    target = target or entity.staging_table
    if extract_number is None:
        rows_of_file, params = "job_id = $job_id AND operation = 'insert'", {"job_id": job_id}
    else:
        rows_of_file, params = "_extract_number = $extract_number", {"extract_number": extract_number}
    compared = entity.key if entity.one_row_per_key else ", ".join(c.name for c in entity.csv_columns)
    sql = {"target": target, "compared": compared, "rows_of_file": rows_of_file}
    conn.execute(render("duplicate_candidates.sql", entity, **sql), params)
    if not conn.execute("SELECT count(*) FROM duplicate_candidates").fetchone()[0]:
        return None
    order = "DESC" if entity.one_row_per_key else "ASC"
    redundant = conn.execute(render("duplicate_rows.sql", entity, order=order, **sql), params).fetchall()
    conn.execute(f"DELETE FROM {target} WHERE rowid IN (SELECT unnest($rowids))", {"rowids": [r for r, _ in redundant]})
    lines = tuple(position + 2 for _, position in redundant[:LINES_KEPT])
    return Duplicates(entity.table, member, entity.one_row_per_key, len(redundant), lines)


def record(conn: duckdb.DuckDBPyConnection, job_id: int, duplicates: list[Duplicates]) -> None:
    if duplicates:
        ledger.record_duplicates(conn, job_id, json.dumps([asdict(d) for d in duplicates]))


def job_duplicates(conn: duckdb.DuckDBPyConnection, job_id: int) -> dict[str, Duplicates]:
    """What the staging of job_id dropped, by table ({} when nothing)."""
    row = conn.execute(
        "SELECT duplicates_report FROM import_jobs WHERE job_id = $job_id", {"job_id": job_id}
    ).fetchone()
    if not row or not row[0]:
        return {}
    return {d["table"]: Duplicates(**d | {"lines": tuple(d["lines"])}) for d in json.loads(row[0])}
