"""The user's path: `kbo sample`, `kbo import`, `kbo status` as commands, each import a Dagster run."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from .conftest import EXTRACT_147, copy_to

KBO = str(Path(sys.executable).with_name("kbo"))


def kbo(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KBO_", "DAGSTER_HOME"))}
    return subprocess.run([KBO, *args], cwd=cwd, env={**environment, **(env or {})}, capture_output=True, text=True, timeout=600)


def test_sample_import_status_on_the_defaults(tmp_path):
    sample = kbo("sample", "--out", "data/landing", "--updates", "2", cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    zips = sorted((tmp_path / "data" / "landing").glob("*.zip"))
    assert [z.name for z in zips] == [
        "KboOpenData_0140_2025_10_05_Full.zip",
        "KboOpenData_0141_2025_10_06_Update.zip",
        "KboOpenData_0142_2025_10_07_Update.zip",
    ]
    imported = kbo("import", *map(str, zips), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.count(": done (run ") == 3
    # The defaults: data/kbo.duckdb, and runs recorded on the project-local instance.
    with duckdb.connect(str(tmp_path / "data" / "kbo.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT list(extract_number ORDER BY job_id) FROM import_jobs WHERE status = 'completed'").fetchone()[0] == [140, 141, 142]
    os.environ["DAGSTER_HOME"], saved = str(tmp_path / "data" / "dagster_home"), os.environ.get("DAGSTER_HOME")
    try:
        with DagsterInstance.get() as instance:
            assert len(instance.get_run_records()) == 3
    finally:
        os.environ.pop("DAGSTER_HOME") if saved is None else os.environ.__setitem__("DAGSTER_HOME", saved)
    status = kbo("status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "Extract 142 (update" in status.stdout and "completed" in status.stdout
    again = kbo("import", str(zips[1]), cwd=tmp_path)
    assert again.returncode == 0 and "skipped, extract 141 is already applied" in again.stdout


def test_import_takes_database_and_fails_clearly(tmp_path):
    database = tmp_path / "other.duckdb"
    landing = tmp_path / "in"
    good = copy_to(EXTRACT_147, landing)
    bad = landing / "KboOpenData_0148_2025_10_13_Update.zip"
    bad.write_text("not a zip")
    result = kbo("import", "--database", str(database), str(good), str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "KboOpenData_0148_2025_10_13_Update.zip: not a valid ZIP file" in result.stderr
    status = kbo("status", "--database", str(database), cwd=tmp_path)
    assert "failed" in status.stdout and "not a valid ZIP" in status.stdout
    env_db = kbo("status", cwd=tmp_path, env={"KBO_DATABASE": str(database)})
    assert env_db.stdout == status.stdout
