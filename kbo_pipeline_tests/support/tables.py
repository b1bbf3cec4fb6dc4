"""Database helpers for the tests: a checksum of every entity table (to prove that nothing changed), an
extract staged but not applied, and another process holding the database."""

import subprocess
import sys

from kbo_pipeline.core.batches import plan_batches
from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.core.importer import prepare, stage


def table_checksums(conn) -> dict[str, tuple]:
    sums = {}
    for entity in ENTITIES:
        try:
            sums[entity.table] = conn.execute(
                f"SELECT count(*), coalesce(sum(hash({entity.table})), 0) FROM {entity.table}"
            ).fetchone()
        except Exception:  # the table does not exist yet
            sums[entity.table] = None
    return sums


def staged_batches(conn, path, work_dir, sizes=None):
    """Validate and stage one extract without applying it: (job id, its batches)."""
    extract, start = prepare(conn, path)
    stage(conn, extract, start.job_id, work_dir, sizes)
    return start.job_id, plan_batches(conn, start.job_id)


class DatabaseHeld:
    """Another process holding the DuckDB file (its write lock) for `seconds`, as a running import does."""

    def __init__(self, database, seconds: float):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
                "time.sleep(float(sys.argv[2]))",
                str(database),
                str(seconds),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self):
        assert self.process.stdout.readline().strip() == "held"
        return self

    def wait(self):
        self.process.wait(timeout=60)

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()
