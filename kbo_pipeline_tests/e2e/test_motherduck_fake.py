"""Every md: path through the test seam (KBO_FAKE_MOTHERDUCK_DIR: `md:NAME` opens DIR/NAME.duckdb, and
everything else treats it as MotherDuck): imports equal to the replay, commands, a lost commit
acknowledgement, a killed import resumed, the sensor's tick, and two machines at once. Nothing may be
written beside the database (no lock or state file: the lease and the ledger are in it), and a token
given in the md: string or the environment appears in no output and no file."""

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, build_sensor_context

from kbo_pipeline.core import lease
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.import_lock import ImportLocked
from kbo_pipeline.definitions import defs
from kbo_pipeline.defs.resources import default_resources
from kbo_pipeline.defs.sensors import kbo_extract_sensor
from kbo_pipeline.errors import ConfigError
from kbo_pipeline_tests.e2e.test_cli import KBO, kbo
from kbo_pipeline_tests.support.replay import assert_equals_replay

pytestmark = pytest.mark.motherduck

TOKEN = "fake-token-0b5e2d"
DATABASE = f"md:kbo?motherduck_token={TOKEN}"


def machine(tmp_path: Path, name: str, cloud: Path) -> tuple[Path, dict]:
    """A machine of its own: its working folder, Dagster instance and work folder; the shared 'cloud'."""
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "DAGSTER_HOME": str(home / "dagster_home"),
        "KBO_WORK_DIR": str(home / "work"),
        "KBO_FAKE_MOTHERDUCK_DIR": str(cloud),
        "motherduck_token": TOKEN + "-env",
    }
    return home, env


def cloud_file(cloud: Path) -> str:
    return str(cloud / "kbo.duckdb")


def assert_nothing_left_behind(tmp_path: Path, *outputs: str) -> None:
    for text in outputs:
        assert TOKEN not in text
    for path in tmp_path.rglob("*"):
        assert TOKEN not in path.name, path
        assert not path.name.endswith((".import.lock", ".ledger.json")), path
        if path.is_file() and path.suffix != ".zip":
            assert TOKEN.encode() not in path.read_bytes(), path


@pytest.fixture
def cloud(tmp_path) -> Path:
    folder = tmp_path / "cloud"
    folder.mkdir()
    return folder


def test_a_full_and_updates_equal_the_replay_and_every_command_works(tmp_path, cloud, samples):
    home, env = machine(tmp_path, "a", cloud)
    imported = kbo("import", *map(str, samples[:3]), "--database", DATABASE, cwd=home, env=env)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert "database: md:kbo" in imported.stdout
    with duckdb.connect(cloud_file(cloud)) as conn:
        assert_equals_replay(conn, samples[:3])
        assert conn.execute("SELECT count(*) FROM import_lease").fetchone() == (0,)  # released
    status = kbo("status", "--database", DATABASE, cwd=home, env=env)
    assert status.returncode == 0 and "Extract 142 (update" in status.stdout, status.stderr
    audit = kbo("audit", "--database", DATABASE, cwd=home, env=env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    changes = kbo("changes", "142", "--database", DATABASE, cwd=home, env=env)
    assert changes.returncode == 0 and "enterprise" in changes.stdout, changes.stderr
    exports = home / "data" / "exports" / "md_kbo"
    assert sorted(p.name for p in (exports / "changes").iterdir()) == ["extract=140", "extract=141", "extract=142"]
    rolled = kbo("rollback", "142", "--database", DATABASE, cwd=home, env=env)
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    with duckdb.connect(cloud_file(cloud)) as conn:
        assert_equals_replay(conn, samples[:2])
    outputs = [r.stdout + r.stderr for r in (imported, status, audit, changes, rolled)]
    assert all("busy" not in o for o in outputs)
    assert sorted(p.name for p in cloud.iterdir()) == ["kbo.duckdb"]  # nothing beside the database
    assert_nothing_left_behind(tmp_path, *outputs)


def test_a_lost_commit_acknowledgement_applies_every_batch_once(tmp_path, cloud, samples):
    home, env = machine(tmp_path, "a", cloud)
    env["KBO_FAILPOINTS"] = "activity_insert_*:commit_lost"
    imported = kbo("import", *map(str, samples[:2]), "--database", DATABASE, cwd=home, env=env)
    assert imported.returncode == 0, imported.stderr[-3000:]
    with duckdb.connect(cloud_file(cloud)) as conn:
        assert_equals_replay(conn, samples[:2])
        assert conn.execute(
            "SELECT count(*) FROM import_job_batches WHERE status <> 'completed' OR error_message IS NOT NULL"
        ).fetchone() == (0,)


def test_an_import_killed_mid_batch_resumes_and_its_lease_is_taken_over(tmp_path, cloud, samples):
    home, env = machine(tmp_path, "a", cloud)
    assert kbo("import", str(samples[0]), "--database", DATABASE, cwd=home, env=env).returncode == 0
    marker = tmp_path / "kill-once"
    marker.touch()
    killed = kbo(
        "import",
        str(samples[1]),
        "--database",
        DATABASE,
        cwd=home,
        env={**env, "KBO_FAILPOINTS": f"activity_insert_0001:kill_before_commit:{marker}"},
    )
    assert killed.returncode != 0
    with duckdb.connect(cloud_file(cloud)) as conn:
        assert conn.execute("SELECT count(*) FROM import_lease").fetchone() == (1,)  # left by the dead run
    resumed = kbo("import", str(samples[1]), "--database", DATABASE, cwd=home, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "took over the import lease of md:kbo from dagster run" in resumed.stdout + resumed.stderr
    with duckdb.connect(cloud_file(cloud)) as conn:
        assert_equals_replay(conn, samples[:2])


def test_two_machines_at_once_import_each_extract_once(tmp_path, cloud, samples):
    processes = []
    for name in ("a", "b"):
        home, env = machine(tmp_path, name, cloud)
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("KBO_", "DAGSTER_HOME"))}
        processes.append(
            subprocess.Popen(
                [KBO, "import", *map(str, samples[:3]), "--database", DATABASE],
                cwd=home,
                env={**environment, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    with duckdb.connect(cloud_file(cloud)) as conn:
        assert_equals_replay(conn, samples[:3])
        assert conn.execute("SELECT count(*) FROM import_jobs WHERE status = 'completed'").fetchone() == (3,)
    # Each extract was applied by one machine; the other skipped it or found it done.
    assert sum(o.count(": done (run ") for o in outputs) >= 3
    assert_nothing_left_behind(tmp_path, *outputs)


def test_the_sensor_reads_the_ledger_from_the_database(tmp_path, cloud, samples, dagster_home, monkeypatch):
    landing = tmp_path / "landing"
    landing.mkdir()
    for path in samples[:2]:
        shutil.copy(path, landing)
    monkeypatch.setenv("KBO_DATABASE", "md:kbo")
    monkeypatch.setenv("KBO_FAKE_MOTHERDUCK_DIR", str(cloud))
    monkeypatch.setenv("KBO_LANDING_DIR", str(landing))
    home, env = machine(tmp_path, "a", cloud)
    assert kbo("import", str(samples[0]), "--database", "md:kbo", cwd=home, env=env).returncode == 0
    with DagsterInstance.get() as instance:
        cursor = None
        for _ in range(2):  # the first tick sees the files, the second finds them unchanged
            with build_sensor_context(
                instance=instance,
                instance_ref=instance.get_ref(),
                cursor=cursor,
                definitions=defs,
                resources=default_resources(),
            ) as context:
                data = kbo_extract_sensor.evaluate_tick(context)
            cursor = data.cursor
    assert [r.partition_key for r in data.run_requests] == [samples[1].stem]
    assert data.run_requests[0].tags["kbo/database"] == "md:kbo"


def test_one_configuration_per_database_per_process(cloud, monkeypatch):
    monkeypatch.setenv("KBO_FAKE_MOTHERDUCK_DIR", str(cloud))
    with connect("md:config_rule", {"threads": 1}):
        pass
    with pytest.raises(ConfigError, match="MotherDuck refuses another configuration"):
        with connect("md:config_rule", {"threads": 2}):
            pass


def test_a_live_holder_keeps_the_lease_and_is_named(cloud, monkeypatch):
    monkeypatch.setenv("KBO_FAKE_MOTHERDUCK_DIR", str(cloud))
    first = lease.ImportLease("md:lease_rule", timeout=0)
    first.acquire("dagster run first")
    try:
        with pytest.raises(ImportLocked, match=r"held by|holds the import lease.*dagster run first \(host"):
            lease.ImportLease("md:lease_rule", timeout=0).acquire("dagster run second")
        assert lease.is_importing("md:lease_rule")
    finally:
        first.release()
    assert not lease.is_importing("md:lease_rule")


def test_a_silent_holder_is_taken_over_with_a_message_naming_it(cloud, monkeypatch):
    monkeypatch.setenv("KBO_FAKE_MOTHERDUCK_DIR", str(cloud))
    lease.ImportLease("md:lease_rule", timeout=0).acquire("dagster run silent")  # never released
    said = []
    taker = lease.ImportLease("md:lease_rule", timeout=0, ttl=-1)  # any silence is too long
    taker.acquire("dagster run next", on_wait=said.append)
    taker.release()
    assert said and "took over the import lease of md:lease_rule from dagster run silent" in said[0]
    assert "silent for" in said[0]
