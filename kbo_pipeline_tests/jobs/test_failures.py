"""A failure costs one batch: failpoints, re-execution from failure, transient errors, rollback."""

import concurrent.futures
import subprocess
import sys
import time
import zipfile

import duckdb
import pytest
from dagster import DagsterInstance, ReexecutionOptions, execute_job, reconstructable

from kbo_pipeline.cli.render import job_report
from kbo_pipeline.cli.runs import import_run_config, launch_import, launch_rollback, run_errors
from kbo_pipeline.core.batches import apply_batch, plan_batches
from kbo_pipeline.core.database import connect, database_of, is_transient
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.extract import read_extract
from kbo_pipeline.core.failpoints import FailpointHit, hit
from kbo_pipeline.core.importer import import_extract, prepare, stage, unpack_job
from kbo_pipeline.core.rollback import RollbackError, rollback_extract
from kbo_pipeline.core.work_folders import work_folder
from kbo_pipeline.definitions import get_import_job
from kbo_pipeline.errors import ConfigError
from kbo_pipeline_tests.support.files import EXTRACT_147
from kbo_pipeline_tests.support.fulls import current_state, full_zip
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.tables import DatabaseHeld, staged_batches, table_checksums

SIZES = {t: 3 for t in TABLES}


def steps(result, event_type="STEP_SUCCESS") -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == event_type]


def test_failpoints_fire_only_where_and_while_told(monkeypatch, tmp_path):
    marker = tmp_path / "marker"
    monkeypatch.setenv("KBO_FAILPOINTS", f"activity_insert_000[2-3]:before_commit:{marker},branch_*:before_sql")
    hit("before_commit", "activity_insert_0002")  # no marker yet: nothing
    marker.touch()
    with pytest.raises(FailpointHit, match="before_commit hit in batch activity_insert_0002"):
        hit("before_commit", "activity_insert_0002")
    hit("before_sql", "activity_insert_0002")
    hit("before_commit", "activity_insert_0004")
    with pytest.raises(FailpointHit):
        hit("before_sql", "branch_delete_0001")
    monkeypatch.setenv("KBO_FAILPOINTS", "finalize:commit_lost")
    with pytest.raises(duckdb.IOException, match="Connection Error: failpoint commit_lost in finalize"):
        hit("commit_lost", "finalize")
    monkeypatch.setenv("KBO_FAILPOINTS", "x:sometime")
    with pytest.raises(ConfigError, match="unknown point 'sometime'"):
        hit("before_sql", "x")


@pytest.mark.parametrize("point", ["before_sql", "before_commit"])
def test_a_failed_batch_is_reexecuted_from_failure(point, dagster_home, tmp_path, samples, monkeypatch):
    database, work = str(tmp_path / "kbo.duckdb"), tmp_path / "work"
    marker = tmp_path / "fail-now"
    marker.touch()
    monkeypatch.setenv("KBO_FAILPOINTS", f"activity_insert_0002:{point}:{marker}")
    with DagsterInstance.get() as instance:
        with launch_import(instance, samples[0], database, work) as full:
            assert full.success
        with launch_import(instance, samples[1], database, work, batch_sizes=SIZES) as failed:
            assert not failed.success
            assert steps(failed, "STEP_FAILURE") == ["applied_tables.kbo_apply_batch[activity_insert_0002]"]
            # The failure is recorded and the rest goes on: every other batch ran; finalize did not.
            applied = [s for s in steps(failed) if "kbo_apply_batch" in s]
            assert "applied_tables.kbo_apply_batch[activity_insert_0003]" in applied
            assert "kbo_finalize" not in steps(failed) + steps(failed, "STEP_START")
            batch_count = len(applied) + 1
        with connect(database) as conn:
            status, error = conn.execute(
                "SELECT status, error_message FROM import_job_batches WHERE table_name = 'activity' "
                "AND operation = 'insert' AND batch_number = 2 AND job_id = 2"
            ).fetchone()
            assert status == "failed" and f"failpoint {point} hit" in error
            assert conn.execute("SELECT status FROM import_jobs WHERE job_id = 2").fetchone()[0] == "processing"
            assert "failed: 1 batch(es) failed, 1 left" in job_report(conn)
            assert conn.execute("SELECT count(*) FROM activity WHERE _extract_number = 141").fetchone()[0] > 0
        marker.unlink()
        parent = instance.get_run_by_id(failed.run_id)
        with execute_job(
            reconstructable(get_import_job),
            instance=instance,
            tags={k: v for k, v in parent.tags.items() if k.startswith("dagster/partition")},
            reexecution_options=ReexecutionOptions.from_failure(failed.run_id, instance),
        ) as resumed:
            assert resumed.success
            rerun = steps(resumed)
            assert [s for s in rerun if "kbo_apply_batch" in s] == [
                "applied_tables.kbo_apply_batch[activity_insert_0002]"
            ]
            assert rerun[0] == "applied_tables.kbo_apply_batch[activity_insert_0002]"
            assert {"applied_tables.kbo_complete_batches", "kbo_finalize"} <= set(rerun)
    assert batch_count > 10
    with connect(database) as conn:
        assert conn.execute("SELECT status FROM import_jobs WHERE job_id = 2").fetchone()[0] == "completed"
        assert_equals_replay(conn, samples[:2])


def retry_said(instance) -> bool:
    """Whether the latest run's kbo_extract step has logged its first retry on the lock."""
    runs = instance.get_runs(limit=1)
    return bool(runs) and any(
        "transient error (attempt 1 of 6), trying again in" in e.user_message and "lock" in e.user_message
        for e in instance.all_logs(runs[0].run_id)
        if e.step_key == "kbo_extract"
    )


def test_a_lock_held_by_another_process_is_retried(dagster_home, tmp_path, monkeypatch):
    monkeypatch.setattr("kbo_pipeline.defs.resources.CONNECT_LOCK_WAIT", 0)  # let the retry policy show

    database = str(tmp_path / "kbo.duckdb")
    with connect(database) as conn:
        conn.execute("SELECT 1")
    with DatabaseHeld(database) as holder, DagsterInstance.get() as instance:
        # The import runs in a thread; the holder lets go once the step has said it retries.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(launch_import, instance, EXTRACT_147, database, tmp_path / "work")
            while not retry_said(instance):
                assert not future.done(), "the import ended without meeting the lock"
                time.sleep(0.1)
            holder.release()
            assert future.result(timeout=600).success
    with connect(database) as conn:
        assert conn.execute("SELECT status FROM import_jobs").fetchone()[0] == "completed"


def test_transient_errors_are_told_apart():
    assert is_transient(duckdb.IOException('IO Error: Could not set lock on file "x": Conflicting lock is held'))
    assert is_transient(duckdb.HTTPException("HTTP Error: 503"))
    assert is_transient(ConnectionError("reset"))
    assert not is_transient(duckdb.IOException("IO Error: No space left on device"))
    assert not is_transient(duckdb.ConversionException("Conversion Error"))


def test_rollback_undoes_the_latest_extract_and_reapplying_gives_the_same_state(db, work_dir, samples):
    for path in samples[:3]:
        import_extract(db, path, work_dir)
    after_142 = table_checksums(db)
    code_142 = db.execute("SELECT count(*) FROM code").fetchone()[0]
    with pytest.raises(
        RollbackError, match="extract 141 is not the latest applied extract \\(142\\): roll back 142 first"
    ):
        rollback_extract(db, 141)
    result = rollback_extract(db, 142)
    assert result.rows_removed > 0 and result.rows_restored > 0 and result.code_restored
    assert db.execute("SELECT status FROM import_jobs WHERE extract_number = 142").fetchone()[0] == "rolled_back"
    assert_equals_replay(db, samples[:2])  # primary names recomputed too
    rollback_extract(db, 141)
    assert_equals_replay(db, samples[:1])
    with pytest.raises(RollbackError, match="not applied"):
        rollback_extract(db, 141)
    for path in samples[1:3]:
        assert import_extract(db, path, work_dir).start.action == "replace"
    assert table_checksums(db) == after_142
    assert db.execute("SELECT count(*) FROM code").fetchone()[0] == code_142


def test_an_unfinished_extract_can_be_rolled_back(db, work_dir, samples):
    import_extract(db, samples[0], work_dir)
    before = table_checksums(db)
    _, batches = staged_batches(db, samples[1], work_dir, SIZES)
    for batch in batches[:7]:
        apply_batch(db, batch)
    rollback_extract(db, 141)
    assert table_checksums(db) == before
    assert db.execute("SELECT count(*) FROM import_staging_activity").fetchone()[0] == 0


def test_a_rollback_under_a_newer_unfinished_extract_with_applied_batches_is_refused(db, work_dir, samples):
    for path in samples[:2]:
        import_extract(db, path, work_dir)
    before = table_checksums(db)
    _, batches = staged_batches(db, samples[2], work_dir, SIZES)
    for batch in batches[:5]:
        apply_batch(db, batch)
    partly = table_checksums(db)
    with pytest.raises(
        RollbackError, match=r"extract 142 is processing \(staged on top of extract 141\): roll back 142 first"
    ):
        rollback_extract(db, 141)
    assert table_checksums(db) == partly
    rollback_extract(db, 142)
    assert table_checksums(db) == before
    rollback_extract(db, 141)
    assert_equals_replay(db, samples[:1])


def test_a_rollback_under_a_staged_full_is_refused_even_before_any_batch(db, work_dir, samples, tmp_path):
    """Red team 3: a Full staged as a difference against the state with 141, every batch failed; a
    rollback of 141 under it would make resuming the Full apply a difference computed against a state
    that is gone. It is refused, naming the Full, until the Full is rolled back."""
    for path in samples[:3]:
        import_extract(db, path, work_dir)
    expected = current_state(db)  # the register as of 142: the Full below equals it
    rollback_extract(db, 142)
    before = table_checksums(db)
    full = full_zip(tmp_path, 143, expected)
    extract, start = prepare(db, full)
    stage(db, extract, start.job_id, work_dir, SIZES, accept_drift=True)
    job_id = start.job_id
    assert plan_batches(db, job_id)  # a difference to apply
    db.execute("UPDATE import_job_batches SET status = 'failed' WHERE job_id = $j", {"j": job_id})
    db.execute("UPDATE import_jobs SET status = 'failed' WHERE job_id = $j", {"j": job_id})
    with pytest.raises(RollbackError, match=r"extract 143 is failed \(staged on top of extract 141\)"):
        rollback_extract(db, 141)
    assert table_checksums(db) == before
    rollback_extract(db, 143)
    rollback_extract(db, 141)
    assert_equals_replay(db, samples[:1])


def test_unpacked_files_are_keyed_by_database_and_removed_after_any_outcome(tmp_path, samples):
    """Two databases importing the same ZIP into one work folder neither share nor remove each other's
    files; a replacement and a rollback remove what an interrupted attempt had unpacked."""

    def files():
        return sorted(p.relative_to(work) for p in work.rglob("*") if p.is_file())

    def interrupted_after_unpacking(conn, path):
        extract, _ = prepare(conn, path)
        return unpack_job(conn, extract, work)

    work = tmp_path / "work"
    with connect(str(tmp_path / "a.duckdb")) as a, connect(str(tmp_path / "b.duckdb")) as b:
        extract = read_extract(samples[0])
        assert work_folder(work, database_of(a), extract) != work_folder(work, database_of(b), extract)
        folder_a, folder_b = (interrupted_after_unpacking(conn, samples[0]) for conn in (a, b))
        import_extract(a, samples[0], work)  # stages, then removes a's files only
        assert not folder_a.exists() and len(list(folder_b.glob("*.csv"))) == 8  # code.csv and the seven tables
        import_extract(b, samples[0], work)
        assert files() == []

        # A replacement: other bytes for the same extract remove the first attempt's files.
        interrupted_after_unpacking(a, samples[1])
        other_bytes = tmp_path / "other" / samples[1].name
        other_bytes.parent.mkdir()
        with zipfile.ZipFile(samples[1]) as src, zipfile.ZipFile(other_bytes, "w", zipfile.ZIP_STORED) as dst:
            for name in src.namelist():
                dst.writestr(name, src.read(name))
        extract_b, start = prepare(a, other_bytes, work_dir=work)
        assert start.action == "replace" and files() == []

        # A rollback of the unfinished job removes what it had unpacked.
        unpack_job(a, extract_b, work)
        assert files()
        rollback_extract(a, 141, work)
        assert files() == []


def test_the_rollback_job_and_command(dagster_home, tmp_path, samples):
    database = str(tmp_path / "kbo.duckdb")
    with DagsterInstance.get() as instance:
        for path in samples[:2]:
            with launch_import(instance, path, database, tmp_path / "work") as result:
                assert result.success
        with launch_rollback(instance, 140, database) as refused:
            assert not refused.success
        with launch_rollback(instance, 141, database) as done:
            assert done.success
    with connect(database) as conn:
        assert_equals_replay(conn, samples[:1])
    cli = subprocess.run(
        [sys.executable, "-m", "kbo_pipeline.cli.main", "rollback", "--database", database, "140"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "extract 140 rolled back" in cli.stdout
    cli = subprocess.run(
        [sys.executable, "-m", "kbo_pipeline.cli.main", "rollback", "--database", database, "140"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 1 and "extract 140 is not applied" in cli.stderr


@pytest.mark.parametrize(
    ("staging", "message"),
    [
        ({"batch_sizes": {"activity": -5}}, "batch size for activity delete must be at least 1, not -5"),
        ({"target_batch_seconds": float("inf")}, "target_batch_seconds must be a positive number of seconds, not inf"),
        ({"target_batch_seconds": float("nan")}, "target_batch_seconds must be a positive number of seconds, not nan"),
    ],
)
def test_launchpad_settings_are_checked_before_anything_is_written(dagster_home, tmp_path, staging, message):
    """Red team 13: a negative batch size, or a target of inf or nan, left the job in staging with no
    error recorded (inf and nan as tracebacks). The run now fails at its first step, nothing written."""
    database = str(tmp_path / "kbo.duckdb")
    config = import_run_config(EXTRACT_147, database, str(tmp_path / "work"))
    config["ops"]["kbo_staging"]["config"] |= staging
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("kbo_extracts", [EXTRACT_147.stem])
        result = execute_job(
            reconstructable(get_import_job),
            instance=instance,
            run_config=config,
            tags={"dagster/partition": EXTRACT_147.stem},
            raise_on_error=False,
        )
        assert not result.success
        errors = run_errors(result)
    assert errors == [f"kbo_extract: ops.kbo_staging.config: {message}"]
    with connect(database) as conn:
        jobs = (
            conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'import_jobs'").fetchone()[0]
            and conn.execute("SELECT count(*) FROM import_jobs").fetchone()[0]
        )
    assert not jobs


@pytest.mark.parametrize("name", ["activity_insert_0002", "enterprise_delete_0001", "staging", "finalize"])
def test_a_lost_commit_acknowledgement_applies_nothing_twice(name, dagster_home, tmp_path, samples, monkeypatch):
    """The COMMIT lands, then the step sees a connection error (over a network, an ordinary event). The
    step's retry finds the work committed and does nothing more; the batch is never marked failed."""
    database, work = str(tmp_path / "kbo.duckdb"), tmp_path / "work"
    with DagsterInstance.get() as instance:
        with launch_import(instance, samples[0], database, work) as full:
            assert full.success
        monkeypatch.setenv("KBO_FAILPOINTS", f"{name}:commit_lost")
        with launch_import(instance, samples[1], database, work, batch_sizes=SIZES) as update:
            assert update.success
            said = [e.user_message for e in instance.all_logs(update.run_id)]
    assert any("transient error (attempt 1 of 6)" in s and f"commit_lost in {name}" in s for s in said), said
    if name.count("_") == 2:  # a batch: its retry found it completed and applied nothing
        table, operation, number = name.split("_")
        assert any(f"{table} {operation} batch {int(number)}/" in s and "(already done)" in s for s in said), said
    with connect(database) as conn:
        assert conn.execute(
            "SELECT count(*) FROM import_job_batches WHERE job_id = 2 "
            "AND (status <> 'completed' OR error_message IS NOT NULL)"
        ).fetchone() == (0,)
        assert conn.execute("SELECT status FROM import_jobs WHERE job_id = 2").fetchone()[0] == "completed"
        assert_equals_replay(conn, samples[:2])
