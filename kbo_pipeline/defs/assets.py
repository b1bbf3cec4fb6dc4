"""Dagster assets, one partition per extract: the extract ZIP, the typed staging tables, and the
applied entity tables (+ code). Materializing a partition applies that extract.

The assets hand nothing to each other but the database: each step reads the extract's job from the
ledger by its partition key, and reports what it did as materialization metadata. Nothing is pickled
by an IO manager, so re-executing an old run after an upgrade never meets a stale class."""

from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Nothing,
    graph_multi_asset,
    multi_asset,
)
from pydantic import Field

from kbo_pipeline.core.batch_sizes import validate_config
from kbo_pipeline.core.duplicates import job_duplicates
from kbo_pipeline.core.entities import TABLES, Operation
from kbo_pipeline.core.extract import partition_key_for
from kbo_pipeline.core.importer import extract_of_job, finish, prepare, stage
from kbo_pipeline.core.ledger import active_job
from kbo_pipeline.core.reconcile import drift_warnings, job_drift
from kbo_pipeline.defs.ops import kbo_apply_batch, kbo_complete_batches, kbo_plan_batches
from kbo_pipeline.defs.partitions import extract_number, extract_partitions
from kbo_pipeline.defs.resources import KboDatabase, KboPaths
from kbo_pipeline.defs.retries import retrying
from kbo_pipeline.errors import ConfigError

GROUP = "kbo"
KEY_PREFIX = "kbo"
KINDS = {"duckdb"}


def asset_key(name: str) -> AssetKey:
    """The key of one of this project's assets: kbo/<name>."""
    return AssetKey([KEY_PREFIX, name])


def extract_path(context, kbo_paths: KboPaths) -> Path:
    """The run's extract ZIP: kbo_extract's `zip_path`, or the partition's file in the landing folder."""
    configured = (context.run.run_config.get("ops", {}).get("kbo_extract", {}).get("config") or {}).get("zip_path")
    return Path(configured) if configured else kbo_paths.zip_for(context.partition_key)


class ExtractConfig(Config):
    zip_path: str = Field(
        default="",
        description="The extract ZIP; empty means <landing_dir>/<partition key>.zip. Its name must match the partition.",
    )
    reapply_rolled_back: bool = Field(
        default=True,
        description="Apply the extract again if it was rolled back. The landing sensor's runs set this off, so "
        "that a rollback stays rolled back while its file sits in the landing folder.",
    )


class StagingConfig(Config):
    batch_sizes: dict[str, int] = Field(
        default_factory=dict,
        description="Rows per batch, keyed <table> or <table>_<operation> (e.g. activity: 500, "
        "activity_delete: 1000); unset keys use the defaults for the extract's type, tuned.",
    )
    tune_batch_sizes: bool = Field(
        default=True, description="Tune the sizes not set here from the durations of recent batches."
    )
    target_batch_seconds: float = Field(default=2.0, description="The duration a tuned batch aims at.")
    accept_drift: bool = Field(
        default=False,
        description="Apply a Full to a database holding data even when it differs by more than 5 % in a table.",
    )


@multi_asset(
    name="kbo_extract",
    specs=[AssetSpec(asset_key("extract"), group_name=GROUP, kinds={"csv"}, description="The extract ZIP, validated.")],
    partitions_def=extract_partitions,
)
def kbo_extract(context: AssetExecutionContext, config: ExtractConfig, kbo_db: KboDatabase, kbo_paths: KboPaths):
    """The extract ZIP, validated (name, meta.csv, members, headers), and its import job started or resumed."""
    path = extract_path(context, kbo_paths)
    if partition_key_for(path.name) != context.partition_key:
        raise Failure(f"{path} is not the ZIP of partition {context.partition_key}", allow_retries=False)
    # The staging step's settings are checked here, before this step writes the job: a negative batch
    # size or a target of inf from the Launchpad fails the run with nothing changed.
    staging = StagingConfig(**(context.run.run_config.get("ops", {}).get("kbo_staging", {}).get("config") or {}))
    try:
        validate_config(staging.batch_sizes, staging.target_batch_seconds)
    except ConfigError as exc:
        raise Failure(f"ops.kbo_staging.config: {exc}", allow_retries=False) from None
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            extract, start = prepare(
                conn, path, context.run.run_id, kbo_paths.work_for(kbo_db.database), config.reapply_rolled_back
            )
    for warning in extract.warnings:
        context.log.warning(warning)
    context.log.info(start.message)
    # Unpacking is staging's (it reads the CSVs once, typed, and counts them): a resumed job that was
    # staged already unpacks nothing.
    members = "\n".join(f"| {m.name} | {m.compressed_bytes:,} | {m.uncompressed_bytes:,} |" for m in extract.members)
    return MaterializeResult(
        metadata={
            "extract_number": extract.number,
            "extract_type": extract.extract_type.value,
            "snapshot_date": extract.snapshot_date.isoformat(),
            "job_id": start.job_id if start.job_id is not None else -1,
            "action": start.action.value,
            "zip_bytes": extract.path.stat().st_size,
            "csv_bytes": sum(m.uncompressed_bytes for m in extract.members),
            "sha256": extract.sha256,
            "members": MetadataValue.md("| member | compressed bytes | bytes |\n|---|---:|---:|\n" + members),
        },
    )


@multi_asset(
    name="kbo_staging",
    specs=[
        AssetSpec(
            asset_key(f"staging_{t}"),
            deps=[asset_key("extract")],
            group_name=GROUP,
            kinds=KINDS,
            description=f"import_staging_{t}: typed rows of the extract",
        )
        for t in TABLES
    ],
    partitions_def=extract_partitions,
)
def kbo_staging(context: AssetExecutionContext, config: StagingConfig, kbo_db: KboDatabase, kbo_paths: KboPaths):
    """Every CSV read by DuckDB into its typed staging table with batch numbers; one transaction."""
    parts, drifts, duplicates, file_name = [], {}, {}, ""
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            job_id = active_job(conn, extract_number(context))
            if job_id is not None:
                extract = extract_of_job(conn, extract_path(context, kbo_paths), job_id)
                parts = stage(
                    conn,
                    extract,
                    job_id,
                    kbo_paths.work_for(kbo_db.database),
                    config.batch_sizes,
                    config.tune_batch_sizes,
                    config.target_batch_seconds,
                    config.accept_drift,
                )
                drifts, duplicates = job_drift(conn, job_id), job_duplicates(conn, job_id)
                file_name = extract.file_name
    for warning in drift_warnings(drifts):
        context.log.warning(warning)
    for dropped in duplicates.values():
        context.log.warning(dropped.warning(file_name))
    by_part = {(p.table, p.operation): p for p in parts}
    for table in TABLES:
        deletes, inserts = by_part.get((table, Operation.DELETE)), by_part.get((table, Operation.INSERT))
        yield MaterializeResult(
            asset_key=asset_key(f"staging_{table}"),
            metadata={
                "delete_rows": deletes.rows if deletes else 0,
                "insert_rows": inserts.rows if inserts else 0,
                "duplicates_dropped": duplicates[table].dropped if table in duplicates else 0,
                "batches": sum(p.batches for p in (deletes, inserts) if p),
                "delete_batch_size": deletes.batch_size if deletes else 0,
                "insert_batch_size": inserts.batch_size if inserts else 0,
                **(
                    {
                        "drift_keys": drifts[table].changed_keys,
                        "drift_ratio": MetadataValue.float(drifts[table].ratio),
                    }
                    if table in drifts
                    else {}
                ),
                "batch_sizes_why": MetadataValue.md(
                    "\n".join(
                        f"- {p.operation}: {p.batch_size:,} rows per batch ({p.reason})"
                        for p in (deletes, inserts)
                        if p
                    )
                    or "nothing staged"
                ),
            },
        )


@graph_multi_asset(
    outs={
        table: AssetOut(
            key=asset_key(table),
            dagster_type=Nothing,
            kinds=KINDS,
            description=f"The {table} table, history kept: each extract's deletes and inserts applied in batches.",
        )
        for table in TABLES
    },
    ins={f"staging_{t}": AssetIn(key=asset_key(f"staging_{t}"), dagster_type=Nothing) for t in TABLES},
    partitions_def=extract_partitions,
    group_name=GROUP,
)
def applied_tables(**staged):
    """Plan the batches, apply each as its own step (one transaction each), then complete them."""
    batches, planned = kbo_plan_batches(list(staged.values()))
    applied = batches.map(kbo_apply_batch).collect()
    completed = kbo_complete_batches(planned=planned, batches_applied=applied)
    return {table: getattr(completed, table) for table in TABLES}


@multi_asset(
    name="kbo_finalize",
    specs=[
        AssetSpec(
            asset_key("code"),
            deps=[asset_key(t) for t in TABLES],
            group_name=GROUP,
            kinds=KINDS,
            description="code.csv of the latest applied extract",
        )
    ],
    partitions_def=extract_partitions,
)
def kbo_finalize(context: AssetExecutionContext, kbo_db: KboDatabase, kbo_paths: KboPaths):
    """Refuse while a batch is unfinished; replace `code`, mark the job completed, drop its staging.
    Runs after the applied tables' blocking checks have passed."""
    number = extract_number(context)
    final = None
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            job_id = active_job(conn, number)
            if job_id is not None:
                final = finish(conn, job_id, number, kbo_paths.work_for(kbo_db.database))
    if final is None:
        context.log.info(f"extract {number}: nothing changed")
        return MaterializeResult(metadata={"changed": False})
    context.log.info(
        f"extract {number} completed: {final.names_resolved} primary names resolved, {final.code_rows} code rows"
    )
    rows = "\n".join(
        f"| {t.table} | {t.rows_deleted:,} | {t.rows_inserted:,} | {t.current_rows:,} | {t.batches} | {t.seconds:.2f} |"
        for t in final.tables
    )
    return MaterializeResult(
        metadata={
            "rows": final.code_rows,
            "names_resolved": final.names_resolved,
            "rows_deleted": sum(t.rows_deleted for t in final.tables),
            "rows_inserted": sum(t.rows_inserted for t in final.tables),
            "summary": MetadataValue.md(
                f"Extract {number}\n\n| table | deleted | inserted | current | batches | seconds |\n"
                "|---|---:|---:|---:|---:|---:|\n" + rows
            ),
        },
    )


ASSETS = [kbo_extract, kbo_staging, applied_tables, kbo_finalize]
