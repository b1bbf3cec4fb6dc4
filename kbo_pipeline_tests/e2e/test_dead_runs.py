"""A run whose process died is seen, shown failed and resumed: a killed `kbo import` (reported by the
next kbo command, or by the daemon), a killed run worker, and a whole `dagster dev` killed mid-batch
and started again (re-executed from failure by hand, or retried by Dagster itself)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter, build_sensor_context
from dagster._core.utils import make_new_run_id

from kbo_pipeline import definitions
from kbo_pipeline.cli.instance import instance_yaml
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.import_lock import ImportLock
from kbo_pipeline.core.run_worker import is_alive, this_process
from kbo_pipeline.defs.resources import default_resources
from kbo_pipeline.defs.run_monitor import WORKER_TAG, dead_worker, reap_dead_runs
from kbo_pipeline.defs.sensors import kbo_extract_sensor
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.webserver import Webserver

KBO = str(Path(sys.executable).with_name("kbo"))


def wait_for_file(path: Path, timeout: float = 180, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            raise AssertionError(process.stdout.read()[-3000:])
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def runs_of(instance: DagsterInstance, partition_prefix: str) -> list:
    runs = instance.get_runs()
    return [r for r in runs if r.tags.get("dagster/partition", "").startswith(partition_prefix)]


def wait_for_run(
    partition_prefix: str, statuses: set[str], timeout: float = 240, log: Path | None = None, count: int = 1
):
    """The runs of a partition once `count` of them have one of those statuses."""
    deadline = time.monotonic() + timeout
    while True:
        with DagsterInstance.get() as instance:
            runs = runs_of(instance, partition_prefix)
        done = [r for r in runs if r.status.value in statuses]
        if len(done) >= count:
            return runs
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            raise AssertionError(f"{partition_prefix}: {[r.status.value for r in runs]}\n{tail}")
        time.sleep(0.5)


def failure_message(run_id: str) -> str:
    with DagsterInstance.get() as instance:
        records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    return records[-1].event_log_entry.dagster_event.message if records else ""


def test_a_process_is_alive_only_while_the_recorded_one_lives():
    me = this_process()
    assert is_alive(me) is True
    assert is_alive({**me, "start_ticks": me["start_ticks"] + 1}) is False  # the same pid, reused later
    assert is_alive({**me, "boot_id": "another-boot"}) is False  # the host rebooted
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert is_alive({**me, "pid": child.pid, "start_ticks": None}) is False
    # Red team 6: a container recreated under another host name, same boot: still judged, by the boot
    # id, the pid namespace and the start time, not by the name.
    assert is_alive({**me, "host": "renamed"}) is True
    assert is_alive({**me, "host": "renamed", "start_ticks": me["start_ticks"] + 1}) is False
    assert is_alive({**me, "host": "elsewhere", "boot_id": "another-machine"}) is None  # cannot tell
    assert is_alive({**me, "pid_namespace": "pid:[1]"}) is None  # another container's pids


# --- a killed `kbo import` -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database_with_the_full(tmp_path_factory, samples) -> Path:
    folder = tmp_path_factory.mktemp("full")
    env = {**os.environ, "DAGSTER_HOME": str(folder / "home"), "KBO_WORK_DIR": str(folder / "work")}
    assert (
        subprocess.run(
            [KBO, "import", "--database", str(folder / "kbo.duckdb"), str(samples[0])],
            env=env,
            capture_output=True,
            timeout=300,
        ).returncode
        == 0
    )
    return folder / "kbo.duckdb"


@pytest.fixture
def killed_import(tmp_path, dagster_home, samples, database_with_the_full):
    """A database holding the Full, and a `kbo import` of the next Update SIGKILLed mid-batch."""
    database = tmp_path / "kbo.duckdb"
    shutil.copy(database_with_the_full, database)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "KBO_WORK_DIR": str(tmp_path / "work")}
    marker = tmp_path / "hold"
    marker.touch()
    process = subprocess.Popen(
        [KBO, "import", "--database", str(database), "--batch-size", "activity=5", str(samples[1])],
        env={**env, "KBO_FAILPOINTS": f"141/activity_insert_0002:wait_before_commit:{marker}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    wait_for_file(Path(f"{marker}.reached"), process=process)
    # Alive and holding a batch open: what every kbo command asks first must not call it dead.
    with DagsterInstance.get() as instance:
        [run] = runs_of(instance, samples[1].stem)
        assert run.status == DagsterRunStatus.STARTED and WORKER_TAG in run.tags
        assert reap_dead_runs(instance) == []
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    marker.unlink()
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # nobody has looked yet
    return database, env, run.run_id


def test_the_next_kbo_command_reports_a_killed_import_failed_and_import_resumes(killed_import, samples):
    database, env, run_id = killed_import
    status = subprocess.run(
        [KBO, "status", "--database", str(database)], env=env, capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    assert f"run {run_id} (kbo_import): run worker died: pid " in status.stderr
    assert "batch step(s) had completed, the last applied_tables.kbo_apply_batch[" in status.stderr
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
        assert reap_dead_runs(instance) == []  # reported once
    assert "run worker died" in failure_message(run_id)
    resumed = subprocess.run(
        [KBO, "import", "--database", str(database), str(samples[1])],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with DagsterInstance.get() as instance:
        assert not instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    with connect(str(database)) as conn:
        assert_equals_replay(conn, samples[:2])


def test_the_daemon_reports_a_killed_import_failed(killed_import, tmp_path, dagster_home):
    database, _env, run_id = killed_import
    server = Webserver(
        {
            "DAGSTER_HOME": str(dagster_home),
            "KBO_DATABASE": str(database),
            "KBO_EXTRACT_SENSOR": "off",
            "KBO_LANDING_DIR": str(tmp_path / "landing"),
        },
        tmp_path,
        tmp_path / "dev.log",
    )
    try:
        started = time.monotonic()
        while server.run_status(run_id) == "STARTED":
            assert time.monotonic() - started < 60, (tmp_path / "dev.log").read_text()[-3000:]
            time.sleep(0.5)
        assert server.run_status(run_id) == "FAILURE"
    finally:
        server.stop()
    assert "run worker died: pid " in failure_message(run_id)


# --- runs the daemon launched ----------------------------------------------------------------------


def dev_env(tmp_path, dagster_home, failpoints: str) -> dict:
    return {
        "DAGSTER_HOME": str(dagster_home),
        "KBO_DATABASE": str(tmp_path / "kbo.duckdb"),
        "KBO_LANDING_DIR": str(tmp_path / "landing"),
        "KBO_WORK_DIR": str(tmp_path / "work"),
        "KBO_SENSOR_INTERVAL": "1",
        "KBO_FAILPOINTS": failpoints,
    }


def land(tmp_path, paths) -> None:
    (tmp_path / "landing").mkdir(exist_ok=True)
    for path in paths:
        shutil.copy(path, tmp_path / "landing")


def test_a_killed_run_worker_and_a_killed_host_are_resumed_from_failure(tmp_path, dagster_home, samples):
    """(1) The run worker of a sensor-launched run is SIGKILLed mid-batch; (2) the whole `dagster dev`
    is SIGKILLed mid-batch of the next run and started again. Each run is shown failed, Re-execute →
    From failure finishes it, the sensor goes on, and the database equals the uninterrupted result."""
    (dagster_home / "dagster.yaml").write_text(instance_yaml(retries=0))  # by hand here
    kill_worker, hold = tmp_path / "kill-worker", tmp_path / "hold"
    kill_worker.touch()
    hold.touch()
    env = dev_env(
        tmp_path,
        dagster_home,
        f"141/activity_insert_*:kill_before_commit:{kill_worker},142/activity_insert_*:wait_before_commit:{hold}",
    )
    land(tmp_path, samples[:4])
    log = tmp_path / "dev.log"
    server = Webserver(env, tmp_path, log)
    try:
        [killed] = wait_for_run(samples[1].stem, {"FAILURE"}, log=log)
        assert Path(f"{kill_worker}.fired").exists()  # the failpoint fired once and disarmed itself
        assert server.wait_for(server.reexecute(killed.run_id)) == "SUCCESS"
        wait_for_file(Path(f"{hold}.reached"))
        [held] = wait_for_run(samples[2].stem, {"STARTED"}, log=log)
        server.kill()
    except BaseException:
        server.stop()
        raise
    hold.unlink()
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(held.run_id).status == DagsterRunStatus.STARTED  # what the UI showed for good
    server = Webserver(env, tmp_path, tmp_path / "dev-again.log")
    try:
        started = time.monotonic()
        while server.run_status(held.run_id) == "STARTED":
            assert time.monotonic() - started < 60, "not marked failed within 60 s"
            time.sleep(0.5)
        assert server.run_status(held.run_id) == "FAILURE"
        assert "run worker died: pid " in failure_message(held.run_id)
        resumed = server.reexecute(held.run_id)
        assert server.wait_for(resumed) == "SUCCESS"
        # The batches committed before the crash are not applied again; the one in flight is redone.
        done_before = {s for s in server.step_keys(held.run_id) if "kbo_apply_batch" in s}
        redone = {s for s in server.step_keys(resumed) if "kbo_apply_batch" in s}
        assert "applied_tables.kbo_apply_batch[activity_insert_0001]" in redone and not redone & done_before
        assert "kbo_finalize" in server.step_keys(resumed)
        wait_for_run(samples[3].stem, {"SUCCESS"}, log=tmp_path / "dev-again.log")  # the sensor goes on
    finally:
        server.stop()
    with connect(env["KBO_DATABASE"]) as conn:
        assert_equals_replay(conn, samples[:4])


def test_a_run_killed_with_its_host_is_retried_by_dagster(tmp_path, dagster_home, samples):
    (dagster_home / "dagster.yaml").write_text(instance_yaml(retries=2))
    hold = tmp_path / "hold"
    hold.touch()
    env = dev_env(tmp_path, dagster_home, f"141/activity_insert_*:wait_before_commit:{hold}")
    land(tmp_path, samples[:3])
    server = Webserver(env, tmp_path, tmp_path / "dev.log")
    try:
        wait_for_file(Path(f"{hold}.reached"))
        server.kill()
    except BaseException:
        server.stop()
        raise
    hold.unlink()
    log = tmp_path / "dev-again.log"
    server = Webserver(env, tmp_path, log)
    try:
        runs = wait_for_run(samples[1].stem, {"SUCCESS"}, log=log)
        assert sorted(r.status.value for r in runs) == ["FAILURE", "SUCCESS"]
        retry = next(r for r in runs if r.status.value == "SUCCESS")
        assert retry.tags.get("dagster/retry_number") == "1" and retry.parent_run_id
        assert "run worker died: pid " in failure_message(retry.parent_run_id)
        wait_for_run(samples[2].stem, {"SUCCESS"}, log=log)
    finally:
        server.stop()
    with connect(env["KBO_DATABASE"]) as conn:
        assert_equals_replay(conn, samples[:3])


def test_a_reexecution_is_not_judged_by_its_parents_worker(dagster_home):
    """Re-executions copy the parent's tags: the parent's dead worker must not fail the new run."""

    dead = {**this_process(), "pid": 999_999_999, "start_ticks": 1}
    parent = DagsterRun(
        job_name="kbo_import", run_id="parent", tags={WORKER_TAG: json.dumps({"run_id": "parent", **dead})}
    )
    child = DagsterRun(job_name="kbo_import", run_id="child", tags=dict(parent.tags))
    assert dead_worker(parent) is not None and dead_worker(child) is None


def test_waiting_imports_queue_in_dagster_one_per_database(tmp_path, dagster_home, samples):
    """Two imports launched at once: the second waits as QUEUED (not STARTED, blocking on the lock)
    until the first is done, then runs."""
    hold = tmp_path / "hold"
    hold.touch()
    env = {
        **dev_env(tmp_path, dagster_home, f"140/activity_insert_*:wait_before_commit:{hold}"),
        "KBO_EXTRACT_SENSOR": "off",
    }
    land(tmp_path, samples[:2])
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("kbo_extracts", [p.stem for p in samples[:2]])
    server = Webserver(env, tmp_path, tmp_path / "dev.log")
    try:
        first = server.launch_run("kbo_import", samples[0].stem)
        wait_for_file(Path(f"{hold}.reached"))
        second = server.launch_run("kbo_import", samples[1].stem)
        for _ in range(10):  # several dequeue intervals
            assert server.run_status(second) == "QUEUED"
            time.sleep(0.5)
        with DagsterInstance.get() as instance:
            assert instance.get_run_by_id(second).tags["kbo/database"] == env["KBO_DATABASE"]
        hold.unlink()
        assert server.wait_for(first) == "SUCCESS"
        assert server.wait_for(second) == "SUCCESS"
    finally:
        server.stop()
    with connect(env["KBO_DATABASE"]) as conn:
        assert_equals_replay(conn, samples[:2])


def test_a_sensor_tick_reports_a_dead_run_failed(dagster_home, tmp_path, monkeypatch):

    monkeypatch.setenv("KBO_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("KBO_DATABASE", str(tmp_path / "kbo.duckdb"))
    dead = {"run_id": "r1", **this_process(), "pid": 999_999_999, "start_ticks": 1}
    with DagsterInstance.get() as instance:
        instance.add_run(
            DagsterRun(
                job_name="kbo_import", run_id="r1", status=DagsterRunStatus.STARTED, tags={WORKER_TAG: json.dumps(dead)}
            )
        )
        instance.add_run(
            DagsterRun(
                job_name="kbo_import",
                run_id="r2",
                status=DagsterRunStatus.STARTED,
                tags={WORKER_TAG: json.dumps({**this_process(), "run_id": "r2"})},
            )
        )  # alive: this test
        with build_sensor_context(
            instance=instance, definitions=definitions.defs, resources=default_resources()
        ) as context:
            kbo_extract_sensor.evaluate_tick(context)
        assert instance.get_run_by_id("r1").status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id("r2").status == DagsterRunStatus.STARTED
    assert "run worker died: pid 999999999" in failure_message("r1")


def test_a_worker_that_cannot_be_judged_is_dead_when_it_left_its_lock_and_reported_otherwise(dagster_home, tmp_path):
    """Red team 6: a run worker recorded in another container (another pid namespace, another host name)
    is never judged by its pid. It is dead when it left its database's import lock behind (free, and
    still naming the run: the kernel released it with the process); while the lock is held it is
    reported, not failed on a guess."""
    database = str(tmp_path / "kbo.duckdb")
    lock = ImportLock(database)
    with DagsterInstance.get() as instance:
        run_id = make_new_run_id()
        worker = {**this_process(), "host": "old-container", "pid_namespace": "pid:[1]", "run_id": run_id}
        instance.add_run(
            DagsterRun(
                job_name="kbo_import",
                run_id=run_id,
                status=DagsterRunStatus.STARTED,
                tags={WORKER_TAG: json.dumps(worker), "kbo/database": database},
            )
        )
        held = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from kbo_pipeline.core.import_lock import ImportLock; "
                "lock = ImportLock(sys.argv[1]); lock.acquire(sys.argv[2]); print('held', flush=True); sys.stdin.read()",
                database,
                f"dagster run {run_id}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert held.stdout.readline().strip() == "held"
        said = reap_dead_runs(instance)
        assert any("cannot be judged" in line for line in said), said
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
        held.kill()  # the worker dies holding the lock: its content stays, the kernel frees it
        held.wait()
        said = reap_dead_runs(instance)
        assert any(run_id in line and "run worker died" in line for line in said), said
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
    lock.acquire("a later import")  # and the lock serves the next import as before
    lock.release()
