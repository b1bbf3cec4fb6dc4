"""A Full extract on a database that already holds data: compare it with the current state and stage
only the differences (keys gone, keys whose rows differ, new keys) as deletes and inserts for the same
batch path, so history is not doubled. The drift per table (what the updates had missed) is reported;
above 1 % it warns, above 5 % it fails unless accepted."""

import json
from dataclasses import asdict, dataclass

import duckdb

from kbo_pipeline.core.entities import Entity
from kbo_pipeline.core.schema import staging_table_sql
from kbo_pipeline.core.templates import render
from kbo_pipeline.errors import Refusal

WARN_DRIFT = 0.01
FAIL_DRIFT = 0.05


@dataclass(frozen=True)
class Drift:
    table: str
    changed_keys: int  # keys whose rows differ, or that only one side has
    keys_retired: int  # of those, keys with current rows, which go
    keys_inserted: int  # of those, keys in the Full, whose rows are added
    current_keys: int

    @property
    def ratio(self) -> float:
        return self.changed_keys / self.current_keys if self.current_keys else (1.0 if self.changed_keys else 0.0)


def stage_differences(
    conn: duckdb.DuckDBPyConnection, entity: Entity, job_id: int, stage_full_rows, batch_size: int
) -> tuple[Drift, int, int]:
    """Stage the Full's rows of one table into a temporary table (stage_full_rows(target) does it), then
    only the differing keys into the job's staging. Returns (drift, delete rows, insert rows)."""
    # Declared, not `CREATE ... AS SELECT * FROM <staging> LIMIT 0`: on DuckDB 2.0.0 a table made that
    # way inside a transaction reads back empty once an insert into it spans a row group (122,880
    # rows), and the Full would look empty (every key retired).
    conn.execute(staging_table_sql(entity, "reconcile_full", "CREATE OR REPLACE TEMP TABLE"))
    stage_full_rows("reconcile_full")
    compared = "struct_pack(" + ", ".join(c.name for c in entity.columns) + ")"
    conn.execute(render("reconcile_keys.sql", entity, compared=compared))
    key = entity.key
    deletes = conn.execute(
        f"INSERT INTO {entity.staging_table} (job_id, batch_number, operation, {key}) "
        "SELECT $job_id, (row_number() OVER () - 1) // $size + 1, 'delete', k FROM reconcile_changed WHERE in_current",
        {"job_id": job_id, "size": batch_size},
    ).fetchone()[0]
    columns = ", ".join(c.name for c in entity.columns)
    inserts = conn.execute(
        f"INSERT INTO {entity.staging_table} (job_id, batch_number, operation, {columns}) "
        f"SELECT $job_id, (row_number() OVER () - 1) // $size + 1, 'insert', {columns} FROM reconcile_full "
        f"WHERE {key} IN (SELECT k FROM reconcile_changed WHERE in_full)",
        {"job_id": job_id, "size": batch_size},
    ).fetchone()[0]
    changed, retired, inserted = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE in_current), count(*) FILTER (WHERE in_full) FROM reconcile_changed"
    ).fetchone()
    current = conn.execute(f"SELECT count(DISTINCT {key}) FROM {entity.table} WHERE _is_current").fetchone()[0]
    conn.execute("DROP TABLE reconcile_full")
    conn.execute("DROP TABLE reconcile_changed")
    return Drift(entity.table, int(changed), int(retired), int(inserted), int(current)), int(deletes), int(inserts)


def drift_report(drifts: list[Drift]) -> str:
    return json.dumps([asdict(d) | {"ratio": round(d.ratio, 6)} for d in drifts])


class DriftTooLarge(Refusal):
    """A Full that differs from the database by more than the threshold, not accepted; `table` is the first
    such table, `drifts` all of them."""

    def __init__(self, problem: str, *, drifts: list[Drift], **fields):
        super().__init__(problem, **fields)
        self.drifts = drifts


def check_drift(file_name: str, drifts: list[Drift], accept: bool) -> None:
    """Raise for drift above 5 % in any table, unless accepted."""

    too_much = [d for d in drifts if d.ratio > FAIL_DRIFT]
    if too_much and not accept:
        listed = ", ".join(f"{d.table} {d.ratio:.1%}" for d in too_much)
        raise DriftTooLarge(
            f"the Full differs from the database by more than {FAIL_DRIFT:.0%} ({listed}); "
            "apply it anyway with accept_drift (run config ops.kbo_staging.config.accept_drift, or kbo import --accept-drift)",
            file=file_name,
            table=too_much[0].table,
            drifts=too_much,
        )


def job_drift(conn: duckdb.DuckDBPyConnection, job_id: int) -> dict[str, Drift]:
    """The drift report a reconciled Full recorded, by table ({} for anything else)."""
    row = conn.execute("SELECT drift_report FROM import_jobs WHERE job_id = $job_id", {"job_id": job_id}).fetchone()
    if not row or not row[0]:
        return {}
    fields = Drift.__dataclass_fields__
    drifts = (Drift(**{k: v for k, v in d.items() if k in fields}) for d in json.loads(row[0]))
    return {d.table: d for d in drifts}


def drift_warnings(drifts: dict[str, Drift]) -> list[str]:
    return [
        f"{d.table}: the Full differs from the database in {d.changed_keys:,} of {d.current_keys:,} keys "
        f"({d.ratio:.1%}): rows the updates had missed"
        for d in drifts.values()
        if d.ratio > WARN_DRIFT
    ]
