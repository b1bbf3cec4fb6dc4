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
    """Another process holding the DuckDB file (its write lock), as a running import does, until the test
    lets go (`release`, or the end of the `with`): tests wait for what they expect to see (a retry, a
    "busy") before they let go, never for a number of seconds."""

    def __init__(self, database):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
                str(database),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self):
        assert self.process.stdout.readline().strip() == "held"
        return self

    def release(self):
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=60)

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def run_while_held(database, command: list[str], words: str = "busy", **popen) -> subprocess.CompletedProcess:
    """Run a command while another process holds the database, and let go once the command has said
    `words` on stderr (or ended): its output, as subprocess.run gives it."""
    with DatabaseHeld(database) as holder:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
        said = []
        for line in process.stderr:
            said.append(line)
            if words in line:
                break
        holder.release()
        out, rest = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, out, "".join(said) + rest)
