"""The parquet_exports asset in the import job: after code, its files, metadata and row-count check,
the current snapshot on request, and a re-executed export step writing the same bytes."""

import hashlib
from pathlib import Path

from dagster import DagsterInstance, ReexecutionOptions, execute_job, reconstructable

from kbo_pipeline.cli.runs import import_run_config, launch_import, launch_rollback, run_errors
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.exports import read_manifest
from kbo_pipeline.definitions import get_import_job
from kbo_pipeline_tests.support.files import EXTRACT_147, ROWS_147
from kbo_pipeline_tests.support.replay import assert_equals_replay

CHANGES_147 = ROWS_147  # the first extract: its change set is its insert files


def digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def export_events(result):
    materialized = {
        e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "export_row_counts"
    ]
    return materialized.get("kbo/parquet_exports"), checks


def test_the_import_exports_the_change_set_and_checks_it(dagster_home, export_dir, tmp_path):
    database = str(tmp_path / "kbo.duckdb")
    folder = export_dir / "changes" / "extract=147"
    with DagsterInstance.get() as instance:
        with launch_import(instance, EXTRACT_147, database, work_dir=tmp_path / "work") as first:
            assert first.success
            metadata, checks = export_events(first)
            steps = [e.step_key for e in first.all_events if e.event_type_value == "STEP_SUCCESS"]
        assert steps.index("parquet_exports") > steps.index("kbo_finalize")  # after code
        assert metadata["change_rows"].value == sum(CHANGES_147.values()) == 636
        assert metadata["change_bytes"].value == sum(p.stat().st_size for p in folder.glob("*.parquet"))
        assert "| extract=147/activity.parquet | 425 |" in metadata["files"].value
        assert len(checks) == 1 and checks[0].passed and checks[0].metadata["files_checked"].value == len(TABLES)
        assert not (export_dir / "current").exists()  # off by default
        with connect(database) as conn:
            for table, rows in CHANGES_147.items():
                assert (
                    conn.execute(
                        "SELECT count(*) FROM read_parquet($p)", {"p": str(folder / f"{table}.parquet")}
                    ).fetchone()[0]
                    == rows
                )
        before = digests(folder)

        parent = instance.get_run_by_id(first.run_id)
        with execute_job(
            reconstructable(get_import_job),
            instance=instance,
            run_config=parent.run_config,
            tags={k: v for k, v in parent.tags.items() if k.startswith("dagster/partition")},
            reexecution_options=ReexecutionOptions(parent_run_id=first.run_id, step_selection=["parquet_exports"]),
        ) as again:
            assert again.success
        assert digests(folder) == before

        # On request, the current state too; the import itself is already applied.
        config = import_run_config(EXTRACT_147, database, str(tmp_path / "work"))
        config["ops"]["parquet_exports"] = {"config": {"current_snapshot": True}}
        with execute_job(
            reconstructable(get_import_job),
            instance=instance,
            run_config=config,
            tags={"dagster/partition": EXTRACT_147.stem},
        ) as snapshot:
            assert snapshot.success
            metadata, checks = export_events(snapshot)
        assert sorted(p.stem for p in (export_dir / "current").glob("*.parquet")) == sorted([*TABLES, "code"])
        assert metadata["current_rows"].value == 636 + 21500
        assert checks[0].passed and checks[0].metadata["files_checked"].value == 2 * len(TABLES) + 1
        assert digests(folder) == before


def test_planted_and_stray_files_in_the_export_folder_are_never_read(dagster_home, export_dir, tmp_path, samples):
    """Red team 1: a file name in the export folder ran as SQL (a planted name deleted the enterprise
    history) and a stray file failed every later import. Only the spec's names are read now."""
    database = str(tmp_path / "kbo.duckdb")
    current = export_dir / "current"
    current.mkdir(parents=True)
    planted = current / "enterprise; DELETE FROM enterprise; SELECT count(*) FROM current_enterprise.parquet"
    planted.write_bytes(b"")
    (current / "notes.parquet").write_bytes(b"not parquet at all")
    with DagsterInstance.get() as instance:
        for path in samples[:2]:
            with launch_import(instance, path, database, work_dir=tmp_path / "work") as result:
                assert result.success
                _, checks = export_events(result)
                assert checks[0].passed and checks[0].metadata["files_checked"].value == len(TABLES)
    with connect(database) as conn:
        assert_equals_replay(conn, samples[:2])
    assert planted.exists() and (current / "notes.parquet").exists()  # not ours: left alone


def test_a_rollback_takes_its_change_set_out_of_the_exports(dagster_home, export_dir, tmp_path, samples):
    """Red team 7: `kbo rollback 141` left changes/extract=141 for consumers to apply."""
    database = str(tmp_path / "kbo.duckdb")
    with DagsterInstance.get() as instance:
        for path in samples[:3]:
            with launch_import(instance, path, database, work_dir=tmp_path / "work") as result:
                assert result.success
        assert read_manifest(export_dir)["extracts"] == [140, 141, 142]
        for number in (142, 141):
            with launch_rollback(instance, number, database) as result:
                assert result.success
        assert sorted(p.name for p in (export_dir / "changes").iterdir()) == ["extract=140"]
        manifest = read_manifest(export_dir)
        assert manifest["extracts"] == [140] and manifest["database"] == database
        with launch_import(instance, samples[1], database, work_dir=tmp_path / "work") as result:
            assert result.success
        assert read_manifest(export_dir)["extracts"] == [140, 141]


def test_two_databases_in_one_folder_keep_their_exports_apart(dagster_home, tmp_path, samples, monkeypatch):
    """Red team 7: two databases run from one folder shared data/exports and overwrote each other's
    files. By default each exports beside itself; a folder one database wrote, another refuses."""
    monkeypatch.delenv("KBO_EXPORT_DIR")
    first, second = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    with DagsterInstance.get() as instance:
        with launch_import(instance, samples[0], first, work_dir=tmp_path / "work") as result:
            assert result.success
        with launch_import(instance, EXTRACT_147, second, work_dir=tmp_path / "work") as result:
            assert result.success
        for database in (first, second):
            assert read_manifest(tmp_path / f"{Path(database).name}.exports")["database"] == database
        a_files = digests(tmp_path / "a.duckdb.exports" / "changes" / "extract=140")
        assert len(a_files) == len(TABLES)
        monkeypatch.setenv("KBO_EXPORT_DIR", str(tmp_path / "a.duckdb.exports"))  # shared by mistake
        with launch_import(instance, samples[1], second, work_dir=tmp_path / "work") as result:
            assert not result.success
            assert any("belongs to another database" in error for error in run_errors(result))
        assert digests(tmp_path / "a.duckdb.exports" / "changes" / "extract=140") == a_files
