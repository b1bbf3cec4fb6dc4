"""The landing-folder sensor, driven tick by tick through evaluate_tick on a real instance."""

import shutil
import zipfile

import pytest
from dagster import DagsterInstance, build_sensor_context, execute_job, reconstructable
from dagster._core.errors import DagsterResourceFunctionError

from kbo_pipeline.cli.runs import import_run_config, launch_import
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.import_lock import ImportLock, ImportLocked
from kbo_pipeline.core.ledger_state import state_path
from kbo_pipeline.definitions import defs, get_import_job, kbo_extract_sensor
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.tables import DatabaseHeld


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
        # instance's dynamic partitions plus those the tick adds.
        context = build_sensor_context(
            instance=self.instance, instance_ref=self.instance.get_ref(), cursor=self.cursor, definitions=defs
        )
        data = kbo_extract_sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return data

    def settle(self):
        """Two ticks: the first sees new files, the second finds them unchanged (ready)."""
        self.tick()
        return self.tick()


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
        assert request.run_key.startswith(request.partition_key + ":")
        assert [r.partition_keys for r in data.dynamic_partitions_requests] == [[request.partition_key]]
        # The same tick again (the run not finished yet) asks for the same run key: Dagster launches it once.
        assert ticker.tick().run_requests[0].run_key == request.run_key
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
    assert ticker.tick().run_requests[0].run_key == bad_request.run_key  # the same bytes: the same key
    broken.unlink()
    shutil.copy(samples[1], broken)
    good_request = ticker.settle().run_requests[0]
    assert good_request.partition_key == bad_request.partition_key and good_request.run_key != bad_request.run_key
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
    with DatabaseHeld(database, 20):
        assert ticker.settle().run_requests[0].partition_key == samples[1].stem
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
