"""Through the webserver's own GraphQL API, as the UI does it: re-execute from failure, terminate and
resume. The test starts the webserver on 127.0.0.1 and stops it."""

import shutil
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from kbo_pipeline.cli.render import job_report
from kbo_pipeline.core.database import connect, resolve_database
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.extract import parse_file_name
from kbo_pipeline.dev.sample import write_samples
from kbo_pipeline.settings import DATABASE_TAG
from kbo_pipeline_tests.e2e.test_dead_runs import wait_for_file
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


def test_a_launchpad_run_for_another_database_is_not_queued_behind_the_default_one(tmp_path, dagster_home, samples):
    """A Launchpad run naming another database gets that database's tag when it is submitted, so the run
    queue (one run per database) lets it start while a run of the default database is in flight. Were it
    tagged with the default database, it would wait in the queue until that run ended."""
    landing = tmp_path / "landing"
    landing.mkdir()
    for path in samples[:2]:
        shutil.copy(path, landing)
    marker = tmp_path / "hold"
    first, second = (parse_file_name(p.name)[0] for p in samples[:2])
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "KBO_DATABASE": str(tmp_path / "kbo.duckdb"),
        "KBO_LANDING_DIR": str(landing),
        "KBO_WORK_DIR": str(tmp_path / "work"),
        "KBO_FAILPOINTS": f"{first}/*:wait_before_commit:{marker}",  # holds the default database's run
        "KBO_EXPORT_DIR": "",  # each database exports beside itself
        "KBO_EXTRACT_SENSOR": "off",
    }
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("kbo_extracts", [p.stem for p in samples[:2]])
    marker.touch()
    server = Webserver(env, tmp_path, tmp_path / "webserver.log")
    try:
        held = server.launch_run("kbo_import", samples[0].stem)
        wait_for_file(Path(f"{marker}.reached"), process=server.process)
        other = str(tmp_path / "other.duckdb")
        elsewhere = server.launch_run(
            "kbo_import", samples[1].stem, {"resources": {"kbo_db": {"config": {"database": other}}}}
        )
        # Extract 141 on a database of its own: an Update on an empty database is applied as it is.
        assert server.wait_for(elsewhere) == "SUCCESS"
        assert server.run_status(held) == "STARTED"
        marker.unlink()
        assert server.wait_for(held) == "SUCCESS"
        with DagsterInstance.get() as instance:
            assert instance.get_run_by_id(elsewhere).tags[DATABASE_TAG] == resolve_database(other)
            assert instance.get_run_by_id(held).tags[DATABASE_TAG] == resolve_database(env["KBO_DATABASE"])
        with connect(other) as conn:
            assert conn.execute("SELECT extract_number FROM import_jobs WHERE status = 'completed'").fetchall() == [
                (second,)
            ]
    finally:
        marker.unlink(missing_ok=True)
        server.stop()
