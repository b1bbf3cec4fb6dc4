"""End to end with the Dagster daemon: extracts dropped into the landing folder are imported by
themselves, in order, with no click and no command besides starting `dagster dev`."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, RunsFilter

from kbo_pipeline.core.database import connect
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.webserver import Webserver

KBO = str(Path(sys.executable).with_name("kbo"))


def wait_for_sensor_runs(instance, count: int, log, timeout: float = 300) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs(RunsFilter(tags={"kbo/source": "sensor"}))
        if len([r for r in runs if r.status.value == "SUCCESS"]) >= count:
            return runs
        assert not [r for r in runs if r.status.value == "FAILURE"], log.read_text()[-3000:]
        time.sleep(1)
    raise AssertionError(f"{count} sensor runs did not succeed in time: {log.read_text()[-3000:]}")


def wait_for_tick_saying(instance, words: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in instance.all_instigator_state():
            if state.instigator_name != "kbo_extract_sensor":
                continue
            for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5):
                if tick.skip_reason and words in tick.skip_reason:
                    return tick.skip_reason
        time.sleep(0.5)
    raise AssertionError(f"no tick said {words!r}")


def test_the_sensor_imports_in_order_refills_a_deleted_database_and_leaves_a_rollback(tmp_path, dagster_home, samples):
    landing = tmp_path / "landing"
    landing.mkdir()
    database = tmp_path / "kbo.duckdb"
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "KBO_DATABASE": str(database),
        "KBO_LANDING_DIR": str(landing),
        "KBO_WORK_DIR": str(tmp_path / "work"),
        "KBO_SENSOR_INTERVAL": "1",
    }
    server = Webserver(env, tmp_path, tmp_path / "dagster-dev.log")
    try:
        for path in samples[:3]:
            shutil.copy(path, landing)
        with DagsterInstance.get() as instance:
            wait_for_sensor_runs(instance, 3, tmp_path / "dagster-dev.log")
            runs = sorted(
                instance.get_runs(RunsFilter(tags={"kbo/source": "sensor"})),
                key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp,
            )
        assert [r.tags["dagster/partition"] for r in runs] == [p.stem for p in samples[:3]]
        assert all(r.status.value == "SUCCESS" for r in runs)
        # Ticks after the last import launch nothing more.
        time.sleep(4)
        with DagsterInstance.get() as instance:
            # (import runs: the hourly freshness check's run may fire meanwhile)
            assert len(instance.get_runs(RunsFilter(job_name="kbo_import"))) == 3

            # Red team 2 and 4: the database deleted under the running daemon, its state file left (it
            # says 142): the sensor fills the new database from the Full again, not from 143.
            database.unlink()
            assert database.with_name("kbo.duckdb.ledger.json").exists()
            runs = wait_for_sensor_runs(instance, 6, tmp_path / "dagster-dev.log")
            newest = sorted(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)[3:]
            assert [r.tags["dagster/partition"] for r in newest] == [p.stem for p in samples[:3]]

            # Red team 5: a rollback while the sensor runs stays rolled back.
            rolled_back = subprocess.run(
                [KBO, "rollback", "142"], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
            )
            assert rolled_back.returncode == 0, rolled_back.stderr[-3000:]
            said = wait_for_tick_saying(instance, "extract 142 was rolled back")
            assert "kbo import" in said
            assert len(instance.get_runs(RunsFilter(tags={"kbo/source": "sensor"}))) == 6
    finally:
        server.stop()
    with connect(str(database)) as conn:
        assert_equals_replay(conn, samples[:2])
