"""The landing-folder sensor, driven tick by tick through evaluate_tick on a real instance."""

import json
import os
import shutil
import zipfile

import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    build_sensor_context,
    execute_job,
    reconstructable,
)
from dagster._core.errors import DagsterResourceFunctionError
from dagster._core.utils import make_new_run_id

from kbo_pipeline.cli.runs import import_run_config, launch_import, launch_rollback
from kbo_pipeline.core.batches import apply_batch
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.import_lock import ImportLock, ImportLocked
from kbo_pipeline.core.ledger_state import state_path
from kbo_pipeline.definitions import defs, get_import_job
from kbo_pipeline.defs.resources import default_resources
from kbo_pipeline.defs.sensors import kbo_extract_sensor
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.tables import DatabaseHeld, staged_batches


@pytest.fixture
def env(tmp_path, dagster_home, monkeypatch):
    landing = tmp_path / "landing"
    landing.mkdir()
    database = str(tmp_path / "kbo.duckdb")
    monkeypatch.setenv("KBO_DATABASE", database)
    monkeypatch.setenv("KBO_LANDING_DIR", str(landing))
    monkeypatch.setenv("KBO_WORK_DIR", str(tmp_path / "work"))
    with DagsterInstance.get() as instance:
        yield instance, landing, database


class Ticker:
    def __init__(self, instance):
        self.instance, self.cursor = instance, None

    def tick(self):
        # With the instance's ref, as the daemon has it: run requests are checked against the
        # instance's dynamic partitions plus those the tick adds. The resources as the code location
        # would bind them from this test's environment.
        with build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=self.cursor,
            definitions=defs,
            resources=default_resources(),
        ) as context:
            data = kbo_extract_sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return data

    def settle(self):
        """Two ticks: the first sees new files, the second finds them unchanged (ready)."""
        self.tick()
        return self.tick()


def add_run(instance, status, tags) -> str:
    """A run of kbo_import in the instance's records only, in the state a test needs."""
    run_id = make_new_run_id()
    instance.add_run(DagsterRun(job_name="kbo_import", run_id=run_id, status=status, tags=tags))
    return run_id


def queue_run(instance, database, partition) -> str:
    """A run of this database not started yet, as the daemon leaves one between two ticks."""
    return add_run(instance, DagsterRunStatus.NOT_STARTED, {"kbo/database": database, "dagster/partition": partition})


def run(instance, landing, database, request):
    zip_path = request.run_config["ops"]["kbo_extract"]["config"]["zip_path"]
    with launch_import(instance, zip_path, database) as result:
        return result.success


def test_full_then_updates_run_in_order_one_per_tick(env, samples):
    instance, landing, database = env
    for path in samples[:3]:
        shutil.copy(path, landing)
    ticker = Ticker(instance)
    first = ticker.tick()
    assert not first.run_requests and "still being written" in first.skip_message
    launched = []
    for _ in range(3):
        data = ticker.tick()
        assert len(data.run_requests) == 1, data.skip_message
        request = data.run_requests[0]
        # No run key: what has run is the ledger's to say, not Dagster's memory of used keys.
        assert request.run_key is None and request.tags["kbo/database"] == database
        assert request.run_config["ops"]["kbo_extract"]["config"]["reapply_rolled_back"] is False
        assert [r.partition_keys for r in data.dynamic_partitions_requests] == [[request.partition_key]]
        # While that run is queued, a tick waits for it instead of asking again.
        queued = queue_run(instance, database, request.partition_key)
        waiting = ticker.tick()
        assert (
            not waiting.run_requests
            and f"run {queued} ({request.partition_key}) is not_started" in waiting.skip_message
        )
        instance.delete_run(queued)
        launched.append(request.partition_key)
        assert run(instance, landing, database, request)
    assert launched == [p.stem for p in samples[:3]]
    done = ticker.tick()
    assert not done.run_requests and "nothing new: the latest applied extract is 142" in done.skip_message
    with connect(database) as conn:
        assert_equals_replay(conn, samples[:3])


def test_a_gap_launches_nothing_and_names_the_missing_extract(env, samples):
    instance, landing, database = env
    shutil.copy(samples[0], landing)
    ticker = Ticker(instance)
    assert run(instance, landing, database, ticker.settle().run_requests[0])
    shutil.copy(samples[2], landing)
    data = ticker.settle()
    assert not data.run_requests
    assert "extract 141 is missing" in data.skip_message


def test_an_applied_file_copied_again_runs_nothing(env, samples):
    instance, landing, database = env
    for path in samples[:2]:
        shutil.copy(path, landing)
    ticker = Ticker(instance)
    for _ in range(2):
        assert run(instance, landing, database, ticker.settle().run_requests[0])
    (landing / samples[1].name).unlink()
    shutil.copy(samples[1], landing / samples[1].name)
    again = ticker.settle()
    assert not again.run_requests and "nothing new" in again.skip_message


def test_a_corrected_file_under_the_same_name_runs(env, samples, tmp_path):
    instance, landing, database = env
    shutil.copy(samples[0], landing)
    ticker = Ticker(instance)
    assert run(instance, landing, database, ticker.settle().run_requests[0])
    broken = landing / samples[1].name
    with zipfile.ZipFile(samples[1]) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            if name != "activity_insert.csv":
                dst.writestr(name, src.read(name))
    bad_request = ticker.settle().run_requests[0]
    assert not run(instance, landing, database, bad_request)
    left = ticker.tick()  # the same bytes failed on their content: the ledger says so, nothing runs
    assert not left.run_requests and "job 2 is failed: " in left.skip_message
    assert "activity_insert.csv" in left.skip_message and "a corrected file" in left.skip_message
    broken.unlink()
    shutil.copy(samples[1], broken)
    good_request = ticker.settle().run_requests[0]
    assert good_request.partition_key == bad_request.partition_key
    assert good_request.tags["kbo/sha256"] != bad_request.tags["kbo/sha256"]
    assert run(instance, landing, database, good_request)


def test_a_file_being_written_waits(env, samples):
    instance, landing, _database = env
    partial = landing / (samples[0].name + ".part")
    shutil.copy(samples[0], partial)
    ticker = Ticker(instance)
    assert not ticker.settle().run_requests
    growing = landing / samples[0].name
    growing.write_bytes(samples[0].read_bytes()[:1000])
    ticker.tick()
    growing.write_bytes(samples[0].read_bytes())  # changed since the last tick: not yet
    data = ticker.tick()
    assert not data.run_requests and "still being written" in data.skip_message
    assert ticker.tick().run_requests


def test_a_tick_does_not_need_the_database_while_a_run_holds_it(env, samples):
    instance, landing, database = env
    shutil.copy(samples[0], landing)
    ticker = Ticker(instance)
    assert run(instance, landing, database, ticker.settle().run_requests[0])
    assert state_path(database).exists()
    shutil.copy(samples[1], landing)
    with DatabaseHeld(database):
        assert ticker.settle().run_requests[0].partition_key == samples[1].stem
        state = json.loads(state_path(database).read_text())
        state_path(database).write_text(json.dumps({**state, "latest_applied": "140"}))  # hand-edited
        data = ticker.tick()
        assert not data.run_requests and "is busy" in data.skip_message and "malformed" in data.skip_message
        state_path(database).unlink()  # without the state file the tick says why it waits
        data = ticker.tick()
        assert not data.run_requests and "is busy" in data.skip_message


def test_a_second_import_waits_for_the_first_and_then_refuses_clearly(env, samples, tmp_path):
    instance, _landing, database = env
    lock = ImportLock(database)
    lock.acquire("a test holding the lock")
    try:
        config = import_run_config(samples[0], database, str(tmp_path / "work"))
        config["resources"]["kbo_db"]["config"]["lock_timeout_seconds"] = 1.0
        instance.add_dynamic_partitions("kbo_extracts", [samples[0].stem])
        with pytest.raises(DagsterResourceFunctionError) as info:
            with execute_job(
                reconstructable(get_import_job),
                instance=instance,
                run_config=config,
                tags={"dagster/partition": samples[0].stem},
            ):
                pass
        assert isinstance(info.value.__cause__, ImportLocked)
        assert "another import holds" in str(info.value.__cause__) and "a test holding the lock" in str(
            info.value.__cause__
        )
        [record] = instance.get_run_records()
        assert record.dagster_run.status.value == "FAILURE"
    finally:
        lock.release()
    with connect(database) as conn:
        assert (
            conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'import_jobs'").fetchone()[
                0
            ]
            == 0
        )


def run_request(instance, request, database) -> bool:
    """Launch a request as the daemon would: its own run config (reapply_rolled_back off) and tags."""
    instance.add_dynamic_partitions("kbo_extracts", [request.partition_key])
    with execute_job(
        reconstructable(get_import_job),
        instance=instance,
        run_config=request.run_config,
        tags={**request.tags, "dagster/partition": request.partition_key},
    ) as result:
        return result.success


def test_a_deleted_database_is_filled_again_whatever_its_old_state_file_says(env, samples):
    """Red team 2 and 4: the database removed, its state file left (saying 142 applied): the tick starts
    again from the Full, not from 143, and says it ignored the state file."""
    instance, landing, database = env
    for path in samples[:3]:
        shutil.copy(path, landing)
    ticker = Ticker(instance)
    ticker.tick()
    for _ in range(3):
        assert run_request(instance, ticker.tick().run_requests[0], database)
    assert json.loads(state_path(database).read_text())["latest_applied"] == 142
    os.remove(database)
    again = ticker.tick()
    assert [r.partition_key for r in again.run_requests] == [samples[0].stem]
    assert run_request(instance, again.run_requests[0], database)  # a second run of the same file runs
    with connect(database) as conn:
        assert_equals_replay(conn, samples[:1])


def test_a_state_file_of_another_database_file_is_ignored_while_busy(env, samples, tmp_path):
    """A database restored from a backup (another file at the same path) while a process holds it: the
    state file written for the file it replaced is not believed."""
    instance, landing, database = env
    shutil.copy(samples[0], landing)
    ticker = Ticker(instance)
    assert run(instance, landing, database, ticker.settle().run_requests[0])
    shutil.copy(database, tmp_path / "backup.duckdb")
    os.replace(tmp_path / "backup.duckdb", database)  # same content, another file
    with DatabaseHeld(database):
        data = ticker.tick()
    assert not data.run_requests and "written for another file" in data.skip_message


def test_a_rolled_back_extract_stays_rolled_back_until_a_person_imports_it(env, samples):
    """Red team 5: `kbo rollback` under a running sensor is not undone by the next tick; `kbo import`
    of the same file applies it again."""
    instance, landing, database = env
    for path in samples[:2]:
        shutil.copy(path, landing)
    ticker = Ticker(instance)
    ticker.tick()
    requests = []
    for _ in range(2):
        requests.append(ticker.tick().run_requests[0])
        assert run_request(instance, requests[-1], database)
    with launch_rollback(instance, 141, database) as result:
        assert result.success
    left = ticker.tick()
    assert not left.run_requests
    assert "extract 141 was rolled back" in left.skip_message and f"kbo import {landing / samples[1].name}" in (
        left.skip_message
    )
    # A request made before the rollback and launched after it changes nothing: the ledger decides.
    assert run_request(instance, requests[1], database)
    with connect(database) as conn:
        assert conn.execute("SELECT status FROM import_jobs WHERE extract_number = 141").fetchone()[0] == "rolled_back"
        assert_equals_replay(conn, samples[:1])
    assert run(instance, landing, database, requests[1])  # a person's import (kbo import) re-applies
    with connect(database) as conn:
        assert_equals_replay(conn, samples[:2])


def test_the_tick_takes_plain_files_with_exact_names_only(env, samples, tmp_path):
    """Red team 11: a symbolic link (here to a file outside the folder) and a name with a newline after
    `.zip` are not extracts; ten thousand names are listed in one pass."""
    instance, landing, _database = env
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(samples[0], outside)
    (landing / samples[0].name).symlink_to(outside / samples[0].name)
    shutil.copy(samples[1], landing / (samples[1].name + "\n"))
    for number in range(1000, 11000):
        (landing / f"KboOpenData_{number:04d}_2025_10_05_Update.zip.part").touch()
    ticker = Ticker(instance)
    data = ticker.settle()
    assert not data.run_requests and "no extract in the landing folder" in data.skip_message


def test_a_job_whose_run_died_without_a_retry_is_resumed_and_other_unfinished_jobs_wait(env, samples, work_dir):
    """A `kbo import` whose process died (no code-location origin: Dagster's run retries cannot retry it)
    left extract 141 half applied: the tick resumes it. An unfinished job whose run did not die (a
    failed check, a failed batch) is left for a person, with what to do."""
    instance, landing, database = env
    for path in samples[:2]:
        shutil.copy(path, landing)
    ticker = Ticker(instance)
    ticker.tick()
    assert run_request(instance, ticker.tick().run_requests[0], database)
    with connect(database) as conn:
        job_id, batches = staged_batches(conn, samples[1], work_dir)
        apply_batch(conn, batches[0])
    waiting = ticker.tick()
    assert not waiting.run_requests and f"job {job_id} is processing" in waiting.skip_message
    add_run(
        instance,
        DagsterRunStatus.FAILURE,
        {
            "kbo/database": database,
            "dagster/partition": samples[1].stem,
            "dagster/failure_reason": "UNEXPECTED_TERMINATION",
            "dagster/will_retry": "true",  # said, but a run without an origin is never retried
        },
    )
    resumed = ticker.tick()
    assert [r.partition_key for r in resumed.run_requests] == [samples[1].stem]
    assert run_request(instance, resumed.run_requests[0], database)
    with connect(database) as conn:
        assert_equals_replay(conn, samples[:2])
