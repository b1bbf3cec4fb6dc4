"""Through the webserver's own GraphQL API, as the UI does it: re-execute from failure, terminate and
resume. The test starts the webserver on 127.0.0.1 and stops it."""

import shutil
import time

import pytest
from dagster import DagsterInstance

from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.progress import job_report
from kbo_pipeline.dev.sample import write_samples
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.webserver import Webserver


@pytest.fixture
def busy_samples(tmp_path_factory):
    """A Full and an Update large enough that, at one row per batch, its run lasts a while."""
    return write_samples(
        tmp_path_factory.mktemp("busy"), first_number=160, updates=1, enterprises=150, changes=80, seed=11
    )


@pytest.fixture
def ui(tmp_path, dagster_home, samples, busy_samples):
    landing = tmp_path / "landing"
    landing.mkdir()
    for path in samples[:2] + busy_samples:
        shutil.copy(path, landing)
    marker = tmp_path / "fail-now"
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "KBO_DATABASE": str(tmp_path / "kbo.duckdb"),
        "KBO_LANDING_DIR": str(landing),
        "KBO_WORK_DIR": str(tmp_path / "work"),
        "KBO_FAILPOINTS": f"activity_insert_0002:before_commit:{marker}",
        "KBO_EXTRACT_SENSOR": "off",  # these tests launch their own runs; the sensor would launch more
    }
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("kbo_extracts", [p.stem for p in samples[:2] + busy_samples])
    server = Webserver(env, tmp_path, tmp_path / "webserver.log")
    server.marker, server.database = marker, env["KBO_DATABASE"]
    yield server
    server.stop()


SMALL = {"ops": {"kbo_staging": {"config": {"batch_sizes": {t: 2 for t in TABLES}}}}}


def test_reexecute_from_failure_through_graphql(ui, samples):
    assert ui.wait_for(ui.launch_run("kbo_import", samples[0].stem)) == "SUCCESS"
    ui.marker.touch()
    failed = ui.launch_run("kbo_import", samples[1].stem, SMALL)
    assert ui.wait_for(failed) == "FAILURE"
    assert ui.step_keys(failed, "STEP_FAILURE") == ["applied_tables.kbo_apply_batch[activity_insert_0002]"]
    ui.marker.unlink()
    resumed = ui.reexecute(failed)
    assert ui.wait_for(resumed) == "SUCCESS"
    rerun = ui.step_keys(resumed)
    assert [s for s in rerun if "kbo_apply_batch" in s] == ["applied_tables.kbo_apply_batch[activity_insert_0002]"]
    assert {"applied_tables.kbo_complete_batches", "kbo_finalize"} <= set(rerun)
    with connect(ui.database) as conn:
        assert_equals_replay(conn, samples[:2])


# It used to be flaky under load: Dagster turns an interrupt that lands inside an op with a RetryPolicy
# into a retry, so the run went on. The import's ops retry transient errors themselves now (defs/retries.py).
def test_terminate_pauses_at_a_batch_boundary_and_reexecution_resumes(ui, busy_samples):
    assert ui.wait_for(ui.launch_run("kbo_import", busy_samples[0].stem)) == "SUCCESS"
    one_row_batches = {"ops": {"kbo_staging": {"config": {"batch_sizes": {t: 1 for t in TABLES}}}}}
    run = ui.launch_run("kbo_import", busy_samples[1].stem, one_row_batches)
    # Terminate once some batch steps are done (not while the plan step is still yielding its outputs).
    while sum("kbo_apply_batch" in s for s in ui.step_keys(run)) < 5:
        assert ui.run_status(run) in ("QUEUED", "STARTING", "STARTED")
        time.sleep(0.1)
    ui.terminate(run)
    assert ui.wait_for(run) == "CANCELED"
    with connect(ui.database) as conn:
        states = dict(
            conn.execute("SELECT status, count(*) FROM import_job_batches WHERE job_id = 2 GROUP BY ALL").fetchall()
        )
        assert "processing" not in states and states.get("completed", 0) >= 4 and states.get("pending", 0) > 0
        assert "paused" in job_report(conn)
    resumed = ui.reexecute(run)
    assert ui.wait_for(resumed) == "SUCCESS"
    resumed_steps = ui.step_keys(resumed)
    # The batches done before the stop are not run again.
    assert not set(resumed_steps) & {s for s in ui.step_keys(run) if "kbo_apply_batch" in s}
    assert {"applied_tables.kbo_complete_batches", "kbo_finalize"} <= set(resumed_steps)
    with connect(ui.database) as conn:
        assert_equals_replay(conn, busy_samples)
