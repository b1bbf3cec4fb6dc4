"""SIGKILL at any moment: the database holds no half batch, and importing the same ZIP again resumes
the unfinished job and ends in exactly the state an uninterrupted import gives."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import ENTITIES, TABLES
from kbo_pipeline_tests.support.tables import table_checksums

SIZES = [arg for t in TABLES for arg in ("--batch-size", f"{t}=3")]


def kbo_import(
    database: Path, zip_path: Path, home: Path, extra_env: dict | None = None, sizes=SIZES
) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home), "KBO_WORK_DIR": str(home.parent / "work"), **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "kbo_pipeline.cli.main", "import", "--database", str(database), *sizes, str(zip_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def no_half_batch(database: Path, extract_number: int) -> None:
    """Every row the extract changed belongs to a completed batch, and every completed batch is whole."""
    with connect(str(database)) as conn:
        for entity in ENTITIES:
            inserted, retired = conn.execute(
                f"SELECT count(*) FILTER (WHERE _extract_number = $n), count(*) FILTER (WHERE _deleted_at_extract = $n) "
                f"FROM {entity.table}",
                {"n": extract_number},
            ).fetchone()
            ledger = dict(
                conn.execute(
                    "SELECT b.operation, coalesce(sum(b.rows_affected), 0) FROM import_job_batches b JOIN import_jobs j USING (job_id) "
                    "WHERE j.extract_number = $n AND b.table_name = $t AND b.status = 'completed' GROUP BY ALL",
                    {"n": extract_number, "t": entity.table},
                ).fetchall()
            )
            assert (inserted, retired) == (ledger.get("insert", 0), ledger.get("delete", 0)), entity.table


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory, samples):
    """A database holding the Full, and the state the Update gives when nothing interrupts it."""
    root = tmp_path_factory.mktemp("crash")
    base, reference = root / "base.duckdb", root / "reference.duckdb"
    for database, paths in ((base, samples[:1]), (reference, samples[:2])):
        home = root / f"home-{database.stem}"
        home.mkdir()
        for path in paths:
            process = kbo_import(database, path, home, sizes=SIZES if path != samples[0] else [])
            assert process.wait(timeout=300) == 0, process.stdout.read()
    with connect(str(reference)) as conn:
        expected = table_checksums(conn)
    return root, base, expected


def kill_and_resume(crash_setup, samples, tmp_path: Path, delay: float | None, extra_env: dict | None = None) -> None:
    _root, base, expected = crash_setup
    database = tmp_path / "kbo.duckdb"
    shutil.copy(base, database)
    home = tmp_path / "home"
    home.mkdir()
    process = kbo_import(database, samples[1], home, extra_env)
    if delay is None:
        assert process.wait(timeout=300) == -signal.SIGKILL  # killed by the failpoint itself
    else:
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    no_half_batch(database, 141)
    with connect(str(database)) as conn:
        progress = conn.execute("SELECT status, count(*) FROM import_job_batches GROUP BY ALL ORDER BY 1").fetchall()
    print(f"killed after {delay} s: batches {progress}")
    resumed = kbo_import(database, samples[1], home)
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output[-3000:]
    with connect(str(database)) as conn:
        assert table_checksums(conn) == expected
        assert conn.execute("SELECT list(status ORDER BY job_id) FROM import_jobs").fetchone()[0] == [
            "completed",
            "completed",
        ]


def test_a_kill_inside_a_batch_transaction_leaves_no_half_batch(crash_setup, samples, tmp_path):
    marker = tmp_path / "kill"
    marker.touch()
    kill_and_resume(
        crash_setup, samples, tmp_path, None, {"KBO_FAILPOINTS": f"activity_insert_0002:kill_before_commit:{marker}"}
    )


@pytest.mark.parametrize("delay", [2.5, 4.0])
def test_killed_at_a_moment_then_resumed(crash_setup, samples, tmp_path, delay):
    kill_and_resume(crash_setup, samples, tmp_path, delay)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 1.5, 2.0, 2.2, 3.0, 3.5, 4.5, 4.7, 4.9, 5.5])
def test_killed_at_many_moments_then_resumed(crash_setup, samples, tmp_path, delay):
    kill_and_resume(crash_setup, samples, tmp_path, delay)
