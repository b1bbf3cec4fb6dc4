"""`python -m kbo_pipeline.dev.bench_duplicates --scale full`: what dropping duplicate rows costs a Full.

Every staged insert file is searched for duplicates (core/duplicates.py), a Full's 47 M rows included.
This stages the bench's generated Full table by table into a database file, as staging does, and times
per table the staging read and the duplicate search: first on the clean file (the usual case: one hash
aggregation finds nothing), then with 0.1 % of its rows repeated (the second, exact pass runs and
deletes them). Ratios are against the staging read of the same table, in the same run.
"""

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from kbo_pipeline import settings
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.duplicates import drop_duplicates
from kbo_pipeline.core.entities import ENTITIES, Operation
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline.core.staging import stage_rows_sql
from kbo_pipeline.dev.bench import FULL_ENTERPRISES, SCALES, _copy_csv, _rows_sql, quiet_connection

REPEATED = 0.001


def _timed(action) -> tuple[float, object]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def _measure(conn, entity, job_id: int, csv: Path) -> tuple[int, float, float, float, int]:
    """Stage one table's file; search it clean, then with REPEATED of its rows repeated at the end (for a
    keyed table: the same key, the same values). Rows, read s, clean search s, search with repeats s, dropped."""
    params = {"path": str(csv), "job_id": job_id, "operation": Operation.INSERT, "batch_size": 10**9}
    read, rows = _timed(lambda: conn.execute(stage_rows_sql(entity, Operation.INSERT), params).fetchone()[0])
    clean, none = _timed(lambda: drop_duplicates(conn, entity, job_id, entity.full_member))
    assert none is None, f"{entity.table}: the generated Full has duplicates"
    conn.execute(
        f"INSERT INTO {entity.staging_table} SELECT * FROM {entity.staging_table} "
        "WHERE job_id = $job_id AND hash(rowid) % $every = 0",
        {"job_id": job_id, "every": int(1 / REPEATED)},
    )
    repeated, dropped = _timed(lambda: drop_duplicates(conn, entity, job_id, entity.full_member))
    conn.execute(f"DELETE FROM {entity.staging_table}")
    return rows, read, clean, repeated, dropped.dropped


def run(scale: str, root: Path) -> None:
    n = max(200, int(FULL_ENTERPRISES * SCALES[scale]))
    print(f"scale {scale}: {n:,} enterprises; DuckDB {duckdb.__version__}; repeated rows {REPEATED:.1%}")
    with quiet_connection() as gen:
        csvs = {}
        for entity in ENTITIES:
            csvs[entity.table] = root / entity.full_member
            _copy_csv(gen, _rows_sql(entity.table, n), csvs[entity.table], entity.table)
    totals = {"read": 0.0, "clean": 0.0, "repeated": 0.0}
    with connect(str(root / "kbo.duckdb"), settings.duckdb_config()) as conn:
        conn.execute("SET enable_progress_bar = false")
        create_schema(conn)
        print(
            f"{'table':<14}{'rows':>12}{'read s':>9}{'search s':>10}{'ratio':>7}{'w/ dups s':>11}{'ratio':>7}{'dropped':>9}"
        )
        for job_id, entity in enumerate(ENTITIES, start=1):
            rows, read, clean, repeated, dropped = _measure(conn, entity, job_id, csvs[entity.table])
            print(
                f"{entity.table:<14}{rows:>12,}{read:>9.2f}{clean:>10.2f}{clean / read:>7.2f}"
                f"{repeated:>11.2f}{repeated / read:>7.2f}{dropped:>9,}"
            )
            totals["read"] += read
            totals["clean"] += clean
            totals["repeated"] += repeated
    print(
        f"all tables: read {totals['read']:.2f} s; search on clean files {totals['clean']:.2f} s "
        f"({totals['clean'] / totals['read']:.2f} x the read); with {REPEATED:.1%} repeated {totals['repeated']:.2f} s "
        f"({totals['repeated'] / totals['read']:.2f} x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kbo-bench-duplicates-") as folder:
        run(args.scale, Path(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
