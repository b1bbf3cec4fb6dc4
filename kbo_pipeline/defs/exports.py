"""The Parquet exports as a Dagster asset, one partition per extract like the others, after `code`:
the extract's change set (on by default) and the current state (off by default: it rewrites every
table). The files are in core/exports.py; the asset check recounts every file against the database."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field

from kbo_pipeline.core.exports import (
    changes_folder,
    current_folder,
    expected_rows,
    export_changes,
    export_current,
    file_rows,
)
from kbo_pipeline.core.extract import parse_file_name
from kbo_pipeline.defs.assets import GROUP, extract_partitions
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


@asset(partitions_def=extract_partitions, group_name=GROUP, deps=[AssetKey("code")])
def parquet_exports(
    context: AssetExecutionContext, config: ExportConfig, kbo_db: KboDatabase, kbo_paths: KboPaths
) -> MaterializeResult:
    """What this extract changed, one Parquet file per table in a Hive-style folder (and, on request,
    the current state), for any engine to read: DuckDB, pandas, Spark, Trino, BigQuery."""
    number = parse_file_name(context.partition_key + ".zip")[0]
    changes, current = [], []
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            changes = export_changes(conn, number, kbo_paths.export_dir) if config.changes else []
            current = export_current(conn, kbo_paths.export_dir) if config.current_snapshot else []
    files = changes + current
    context.log.info(
        f"extract {number}: {len(files)} Parquet file(s), {sum(f.rows for f in files):,} rows, "
        f"{sum(f.bytes for f in files):,} bytes under {kbo_paths.export_dir}"
    )
    metadata = {
        "export_dir": MetadataValue.path(str(kbo_paths.export_dir)),
        "change_rows": sum(f.rows for f in changes),
        "change_bytes": sum(f.bytes for f in changes),
        "files": MetadataValue.md(_table(files) if files else "nothing exported (both switched off)"),
    }
    if config.changes:
        metadata["changes"] = MetadataValue.path(str(changes_folder(kbo_paths.export_dir, number)))
    if current:
        metadata |= {"current_rows": sum(f.rows for f in current), "current_bytes": sum(f.bytes for f in current)}
    return MaterializeResult(metadata=metadata)


@asset_check(asset=parquet_exports, description="Every exported file holds as many rows as the database says.")
def export_row_counts(context: AssetCheckExecutionContext, kbo_db: KboDatabase, kbo_paths: KboPaths):
    number = parse_file_name(context.partition_key + ".zip")[0] if context.has_partition_key else None
    checked = {}
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            checked = {}
            for folder, extract in (
                (changes_folder(kbo_paths.export_dir, number), number),
                (current_folder(kbo_paths.export_dir), None),
            ):
                for path in sorted(folder.glob("*.parquet")) if folder.exists() else ():
                    checked[f"{folder.name}/{path.name}"] = (
                        file_rows(conn, path),
                        expected_rows(conn, path.stem, extract),
                    )
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
