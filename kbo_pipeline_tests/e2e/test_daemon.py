"""End to end with the Dagster daemon: extracts dropped into the landing folder are imported by
themselves, in order, with no click and no command besides starting `dagster dev`."""

import shutil
import time

from dagster import DagsterInstance, RunsFilter

from kbo_pipeline.core.database import connect
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.webserver import Webserver


def test_the_sensor_imports_a_full_and_two_updates_in_order(tmp_path, dagster_home, samples):
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
        deadline = time.monotonic() + 300
        with DagsterInstance.get() as instance:
            while time.monotonic() < deadline:
                runs = instance.get_runs(RunsFilter(tags={"kbo/source": "sensor"}))
                if len([r for r in runs if r.status.value == "SUCCESS"]) == 3:
                    break
                assert not [r for r in runs if r.status.value == "FAILURE"], (tmp_path / "dagster-dev.log").read_text()[
                    -3000:
                ]
                time.sleep(1)
            runs = sorted(
                instance.get_runs(RunsFilter(tags={"kbo/source": "sensor"})),
                key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp,
            )
        assert [r.tags["dagster/partition"] for r in runs] == [p.stem for p in samples[:3]]
        assert all(r.status.value == "SUCCESS" for r in runs)
        # Ticks after the last import launch nothing more.
        time.sleep(4)
        with DagsterInstance.get() as instance:
            assert len(instance.get_runs()) == 3
    finally:
        server.stop()
    with connect(str(database)) as conn:
        assert_equals_replay(conn, samples[:3])
