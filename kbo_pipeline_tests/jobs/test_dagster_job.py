"""The kbo_import job through execute_job on a real (temporary) instance, as the UI runs it."""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
from dagster import (
    DagsterEventType,
    DagsterInstance,
    ReexecutionOptions,
    build_resources,
    execute_job,
    reconstructable,
)

from kbo_pipeline import settings
from kbo_pipeline.cli.runs import launch_import
from kbo_pipeline.core.database import connect, resolve_database
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.extract import read_extract
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.jobs import begin_job, record_failure
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline.definitions import defs, get_audit_job, get_import_job
from kbo_pipeline.defs.resources import KboDatabase
from kbo_pipeline.settings import DATABASE_TAG
from kbo_pipeline_tests.support.files import EXTRACT_147, rewritten
from kbo_pipeline_tests.support.fulls import current_state, full_zip
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.runs import run_with_a_gap
from kbo_pipeline_tests.support.tables import table_checksums
from kbo_pipeline_tests.unit.test_duplicates import repeated_child_rows
from kbo_pipeline_tests.unit.test_migrations import PREVIOUS_RELEASE, needs_the_default_client


def materialized(result) -> dict[str, dict]:
    """Metadata by asset name; every key is under the project's prefix, kbo/."""
    keys = {
        event.event_specific_data.materialization.asset_key: event.event_specific_data.materialization.metadata
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert {key.path[0] for key in keys} == {"kbo"}
    return {key.path[-1]: metadata for key, metadata in keys.items()}


def test_the_job_applies_extract_147_one_step_per_batch(dagster_home, tmp_path):
    database = str(tmp_path / "kbo.duckdb")
    with DagsterInstance.get() as instance:
        with launch_import(instance, EXTRACT_147, database, work_dir=tmp_path / "work") as result:
            assert result.success
            steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
            metadata = materialized(result)
        assert "applied_tables.kbo_apply_batch[activity_insert_0001]" in steps
        assert "applied_tables.kbo_apply_batch[enterprise_delete_0001]" in steps
        assert {
            "kbo_extract",
            "applied_tables.kbo_plan_batches",
            "applied_tables.kbo_complete_batches",
            "kbo_finalize",
        } <= steps
        assert set(metadata) == {"extract", "code", "parquet_exports", *TABLES, *(f"staging_{t}" for t in TABLES)}
        checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert len(checks) == 18 and all(
            c.passed or c.severity.value == "WARN" for c in checks
        )  # 16 data checks, 1 export check, the freshness check
        assert {c.check_name for c in checks if c.passed} >= {
            "one_current_row_per_key",
            "rows_applied_equal_rows_staged",
            "has_a_primary_name",
        }
        assert metadata["activity"]["rows_inserted"].value == 425
        assert metadata["enterprise"]["current_rows"].value == 28
        assert metadata["staging_enterprise"]["delete_rows"].value == 162
        assert "insert: 425 rows per batch (one batch: the extract has fewer than 5,000 rows in all)" in (
            metadata["staging_activity"]["batch_sizes_why"].value
        )
        assert metadata["code"]["rows"].value == 21500
        assert metadata["extract"]["extract_number"].value == 147
        assert metadata["staging_activity"]["insert_rows"].value == 425
        assert metadata["staging_enterprise"]["delete_rows"].value == 162
        assert metadata["extract"]["csv_bytes"].value > metadata["extract"]["zip_bytes"].value
        assert "| table | deleted | inserted |" in metadata["code"]["summary"].value
        assert metadata["code"]["names_resolved"].value == 28
        run = instance.get_run_by_id(result.run_id)
        assert run.tags["dagster/partition"] == "KboOpenData_0147_2025_10_12_Update"
    # The steps pass each other nothing but the ledger: the IO manager stored only the per-run batch
    # descriptions of the dynamic fan-out (re-execution from failure needs them), no asset's value.
    storage = dagster_home / "storage"
    stored = [p.relative_to(storage).parts for p in storage.rglob("*") if p.is_file()]
    outputs = {"/".join(parts[:2]) for parts in stored if parts[1:2] != ("compute_logs",)}
    assert outputs == {f"{result.run_id}/applied_tables.kbo_plan_batches"}, outputs


def test_duplicates_dropped_show_in_the_staging_metadata_and_a_warning(dagster_home, tmp_path):
    path = rewritten(tmp_path / "landing", repeated_child_rows)
    with DagsterInstance.get() as instance:
        with launch_import(instance, path, str(tmp_path / "kbo.duckdb"), work_dir=tmp_path / "work") as result:
            assert result.success
            metadata = materialized(result)
            said = [e.user_message for e in instance.all_logs(result.run_id)]
    assert metadata["staging_activity"]["duplicates_dropped"].value == 2
    assert metadata["staging_activity"]["insert_rows"].value == 425
    assert metadata["staging_enterprise"]["duplicates_dropped"].value == 0
    assert metadata["activity"]["rows_inserted"].value == 425
    warning = f"{path.name}/activity_insert.csv: 2 rows identical to an earlier row of the file (kept once) dropped"
    assert any(warning + ": lines 5, 428" in line for line in said), said


def test_reexecuting_a_batch_step_or_the_whole_import_changes_nothing(dagster_home, tmp_path):
    database = str(tmp_path / "kbo.duckdb")
    with DagsterInstance.get() as instance:
        with launch_import(instance, EXTRACT_147, database, work_dir=tmp_path / "work") as first:
            assert first.success
        with connect(database) as conn:
            before = table_checksums(conn)
        parent = instance.get_run_by_id(first.run_id)
        step = "applied_tables.kbo_apply_batch[activity_insert_0001]"
        with execute_job(
            reconstructable(get_import_job),
            instance=instance,
            run_config=parent.run_config,
            tags={k: v for k, v in parent.tags.items() if k.startswith("dagster/partition")},
            reexecution_options=ReexecutionOptions(parent_run_id=first.run_id, step_selection=[step]),
        ) as again:
            assert again.success
            assert [e.step_key for e in again.all_events if e.event_type_value == "STEP_SUCCESS"] == [step]
        with launch_import(instance, EXTRACT_147, database, work_dir=tmp_path / "work") as whole:
            assert whole.success
        with connect(database) as conn:
            assert table_checksums(conn) == before
            assert conn.execute("SELECT count(*) FROM import_jobs").fetchone()[0] == 1


def test_a_full_and_updates_through_the_job_equal_the_replay(dagster_home, tmp_path, samples):
    database = str(tmp_path / "kbo.duckdb")
    with DagsterInstance.get() as instance:
        for path in samples[:3]:
            with launch_import(
                instance, path, database, work_dir=tmp_path / "work", batch_sizes={"activity": 20}
            ) as result:
                assert result.success
        partitions = instance.get_dynamic_partitions("kbo_extracts")
    assert partitions == [Path(p).stem for p in samples[:3]]
    with connect(database) as conn:
        assert_equals_replay(conn, samples[:3])


def test_a_failing_extract_fails_the_run_with_the_message(dagster_home, tmp_path, samples):
    with DagsterInstance.get() as instance:
        run_id = run_with_a_gap(instance, samples, str(tmp_path / "kbo.duckdb"), tmp_path / "work")
        failures = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    failure = failures[0].event_log_entry
    assert failure.step_key == "kbo_extract"
    assert "extract 141 is missing" in failure.dagster_event.event_specific_data.error.message


def test_the_definitions_validate(dagster_home):
    assert defs.resolve_job_def("kbo_import").executor_def.name == "in_process"
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "kbo_pipeline.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "All code locations passed validation" in completed.stderr + completed.stdout


def test_a_failing_blocking_check_stops_the_run_before_finalize(dagster_home, tmp_path):
    """An enterprise already current (written here directly, as a database damaged outside the importer
    would hold it) that extract 147 inserts without deleting it: two current rows for one key. (The same
    key twice in one insert file is no error: the last row wins, test_duplicates.py.)"""

    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        create_schema(conn)
        conn.execute(
            "INSERT INTO enterprise (entity_number, _snapshot_date, _extract_number, _is_current) "
            "VALUES ('0552.627.113', DATE '2025-10-01', 146, true)"
        )
    bad = EXTRACT_147
    database = str(tmp_path / "kbo.duckdb")
    with DagsterInstance.get() as instance:
        with launch_import(instance, bad, database, work_dir=tmp_path / "work") as result:
            assert not result.success
            failed_checks = [
                e.event_specific_data
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
            ]
            assert "kbo_finalize" not in [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert any(
        c.check_name == "one_current_row_per_key" and c.asset_key.to_user_string() == "kbo/enterprise"
        for c in failed_checks
    )
    with connect(database) as conn:
        assert conn.execute("SELECT status FROM import_jobs").fetchone()[0] == "processing"


def test_a_run_config_naming_only_the_database_keeps_the_memory_limit(monkeypatch, tmp_path):
    """kbo import and the launchpad configure kbo_db with its database alone; KBO_MEMORY_LIMIT must still
    reach DuckDB (without it, the Full's export took 14 GB where 3 GB were set); unset, the default
    holds, not DuckDB's 80 % of the machine."""

    def limit_in_a_run() -> str:
        with build_resources(
            {"kbo_db": KboDatabase.configure_at_launch()},
            resource_config={"kbo_db": {"config": {"database": str(tmp_path / "kbo.duckdb")}}},
        ) as resources:
            with resources.kbo_db.get_connection() as conn:
                return conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    def limit_of(setting: str) -> str:
        with duckdb.connect(config={"memory_limit": setting}) as reference:
            return reference.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    monkeypatch.setenv("KBO_MEMORY_LIMIT", "1GB")
    assert limit_in_a_run() == limit_of("1GB")
    monkeypatch.delenv("KBO_MEMORY_LIMIT")
    assert limit_in_a_run() == limit_of(settings.DEFAULT_MEMORY_LIMIT) != limit_of("1GB")


def test_a_run_for_another_database_carries_that_database_tag(dagster_home, tmp_path):
    """The run queue and the landing sensor key on the kbo/database tag. The job's own tag names the code
    location's default database; a run whose config names another is tagged with that one by the run
    itself as it starts, whatever coordinator launched it (e2e/test_webserver.py: the Launchpad's path,
    tagged before it is queued)."""
    other = str(tmp_path / "other.duckdb")
    job = get_audit_job()
    assert job.tags[DATABASE_TAG] == resolve_database(settings.database_path())
    run_config = {
        "resources": {"kbo_db": {"config": {"database": other}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    with DagsterInstance.get() as instance:
        with execute_job(reconstructable(get_audit_job), instance=instance, run_config=run_config) as result:
            assert result.success
            assert instance.get_run_by_id(result.run_id).tags[DATABASE_TAG] == resolve_database(other)


def test_an_extract_older_than_the_latest_applied_is_not_staged_over_an_old_failed_attempt(
    dagster_home, tmp_path, samples
):
    """Steps read their job from the ledger. An old failed attempt of 141 (begun, never staged), then a
    Full 150 applied over it: importing 141 again finds nothing to do, and no step may take the old
    attempt for this run's job and stage 141 on top of 150."""
    database = str(tmp_path / "kbo.duckdb")
    work = tmp_path / "work"
    with connect(database) as conn:
        import_extract(conn, samples[0], work)
        extract = read_extract(samples[1])
        start = begin_job(conn, extract)
        record_failure(conn, "an earlier attempt failed", job_id=start.job_id)
        import_extract(conn, full_zip(tmp_path / "full", 150, current_state(conn)), work)
        before = table_checksums(conn)
    with DagsterInstance.get() as instance:
        with launch_import(instance, samples[1], database, work_dir=work) as result:
            assert result.success
    with connect(database) as conn:
        assert table_checksums(conn) == before
        assert conn.execute("SELECT status FROM import_jobs WHERE extract_number = 141").fetchone()[0] == "failed"
        assert (
            conn.execute("SELECT count(*) FROM import_job_batches WHERE job_id = $j", {"j": start.job_id}).fetchone()[0]
            == 0
        )


@needs_the_default_client
def test_the_first_run_on_a_database_of_an_earlier_release_says_what_it_migrated(dagster_home, tmp_path, samples):
    database = tmp_path / "kbo.duckdb"
    with gzip.open(PREVIOUS_RELEASE) as packed, open(database, "wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    with DagsterInstance.get() as instance:
        with launch_import(instance, samples[1], str(database), work_dir=tmp_path / "work") as result:
            assert result.success
            said = [e.user_message for e in instance.all_logs(result.run_id)]
        assert any(line.startswith("schema migrated to version") for line in said), said
    with connect(str(database)) as conn:
        assert_equals_replay(conn, samples[:2])
