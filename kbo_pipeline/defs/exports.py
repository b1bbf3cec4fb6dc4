"""The Parquet exports as a Dagster asset, one partition per extract like the others, after `code`:
the extract's change set (on by default) and the current state (off by default: it rewrites every
table). The files are in core/exports.py; the asset check recounts every file against the database."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    asset_check,
    multi_asset,
)
from pydantic import Field

from kbo_pipeline.core.exports import (
    changes_folder,
    claim,
    expected_rows,
    export_changes,
    export_current,
    file_rows,
    files_to_check,
    sync_exports,
)
from kbo_pipeline.core.ledger import JobStatus, latest_applied
from kbo_pipeline.defs.assets import GROUP, asset_key
from kbo_pipeline.defs.partitions import extract_number, extract_partitions
from kbo_pipeline.defs.resources import KboDatabase, KboPaths
from kbo_pipeline.defs.retries import retrying


class ExportConfig(Config):
    changes: bool = Field(default=True, description="Write <export_dir>/changes/extract=<N>/<table>.parquet.")
    current_snapshot: bool = Field(
        default=False,
        description="Also write <export_dir>/current/<table>.parquet: every current row (the whole register).",
    )


def _table(files) -> str:
    rows = "\n".join(f"| {f.path.parent.name}/{f.path.name} | {f.rows:,} | {f.bytes:,} |" for f in files)
    return "| file | rows | bytes |\n|---|---:|---:|\n" + rows


@multi_asset(
    name="parquet_exports",
    specs=[
        AssetSpec(
            asset_key("parquet_exports"),
            deps=[asset_key("code")],
            group_name=GROUP,
            kinds={"parquet"},
            description="What each extract changed, as Parquet files (and, on request, the current state).",
        )
    ],
    partitions_def=extract_partitions,
)
def parquet_exports(
    context: AssetExecutionContext, config: ExportConfig, kbo_db: KboDatabase, kbo_paths: KboPaths
) -> MaterializeResult:
    """What this extract changed, one Parquet file per table in a Hive-style folder (and, on request,
    the current state), for any engine to read: DuckDB, pandas, Spark, Trino, BigQuery."""
    number = extract_number(context)
    export_dir = kbo_paths.exports_for(kbo_db.database)
    changes, current, applied = [], [], False
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            adopted = claim(conn, export_dir)
            if adopted:
                context.log.warning(adopted)
            status = conn.execute("SELECT status FROM import_jobs WHERE extract_number = $n", {"n": number}).fetchone()
            applied = status is not None and status[0] == JobStatus.COMPLETED
            # Not applied (the run left a rolled-back extract alone): nothing of it is exported.
            changes = export_changes(conn, number, export_dir) if config.changes and applied else []
            current = export_current(conn, export_dir) if config.current_snapshot else []
            manifest = sync_exports(conn, export_dir, latest_applied(conn) if current else None)
    files = changes + current
    context.log.info(
        f"extract {number}: {len(files)} Parquet file(s), {sum(f.rows for f in files):,} rows, "
        f"{sum(f.bytes for f in files):,} bytes under {export_dir}"
        + ("" if applied else " (the extract is not applied: no change set)")
    )
    metadata = {
        "export_dir": MetadataValue.path(str(export_dir)),
        "valid_extracts": MetadataValue.text(", ".join(map(str, manifest.extracts)) or "none"),
        "change_rows": sum(f.rows for f in changes),
        "change_bytes": sum(f.bytes for f in changes),
        "files": MetadataValue.md(_table(files) if files else "nothing exported (both switched off)"),
    }
    if changes:
        metadata["changes"] = MetadataValue.path(str(changes_folder(export_dir, number)))
    if current:
        metadata |= {"current_rows": sum(f.rows for f in current), "current_bytes": sum(f.bytes for f in current)}
    return MaterializeResult(metadata=metadata)


@asset_check(asset=parquet_exports, description="Every exported file holds as many rows as the database says.")
def export_row_counts(context: AssetCheckExecutionContext, kbo_db: KboDatabase, kbo_paths: KboPaths):
    number = extract_number(context) if context.has_partition_key else None
    export_dir = kbo_paths.exports_for(kbo_db.database)
    checked = {}
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            latest = latest_applied(conn)
            checked = {
                label: (file_rows(conn, path), expected_rows(conn, path.stem, extract))
                for label, path, extract in files_to_check(export_dir, number, latest)
            }
    wrong = {name: counts for name, counts in checked.items() if counts[0] != counts[1]}
    return AssetCheckResult(
        passed=not wrong,
        metadata={
            "files_checked": len(checked),
            "mismatches": MetadataValue.md(
                "\n".join(
                    f"- {name}: {rows:,} rows in the file, {want:,} in the database"
                    for name, (rows, want) in wrong.items()
                )
                or "none"
            ),
        },
    )


EXPORTS = [parquet_exports]
EXPORT_CHECKS = [export_row_counts]
