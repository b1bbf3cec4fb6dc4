"""The parquet_exports asset in the import job: after code, its files, metadata and row-count check,
the current snapshot on request, and a re-executed export step writing the same bytes."""

import hashlib

from dagster import DagsterInstance, ReexecutionOptions, execute_job, reconstructable

from kbo_pipeline.cli.runs import import_run_config, launch_import
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.definitions import get_import_job
from kbo_pipeline_tests.support.files import EXTRACT_147, ROWS_147

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
    return materialized.get("parquet_exports"), checks


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
