"""The ops: inside the applied-tables asset (plan, one DynamicOutput per batch; apply one batch;
complete the batches and resolve names), and those of the rollback and fetch jobs. Each is a thin
wrapper over the core functions."""

from pathlib import Path

from dagster import Config, DynamicOut, DynamicOutput, In, MetadataValue, Nothing, OpExecutionContext, Out, Output, op

from kbo_pipeline.core.batches import Batch, apply_batch, plan_batches
from kbo_pipeline.core.entities import TABLES, Operation
from kbo_pipeline.core.exports import ExportFolderError, sync_exports
from kbo_pipeline.core.finalize import resolve_names, table_summaries
from kbo_pipeline.core.ledger import BatchStatus, active_job
from kbo_pipeline.core.progress import job_progress
from kbo_pipeline.core.rollback import RollbackResult, rollback_extract
from kbo_pipeline.defs.partitions import extract_number
from kbo_pipeline.defs.resources import KboDatabase, KboPaths
from kbo_pipeline.defs.retries import retrying
from kbo_pipeline.sources.portal import portal_client


@op(ins={"staged": In(Nothing)}, out={"batches": DynamicOut(Batch), "planned": Out(Nothing)})
def kbo_plan_batches(context: OpExecutionContext, kbo_db: KboDatabase):
    """One DynamicOutput per batch still to apply (a resumed job yields only the unfinished ones)."""
    number = extract_number(context)
    batches = []
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            job_id = active_job(conn, number)
            batches = plan_batches(conn, job_id) if job_id is not None else []
    context.log.info(f"extract {number}: {len(batches)} batch step(s) to run")
    for batch in batches:
        yield DynamicOutput(batch, mapping_key=batch.mapping_key, output_name="batches")
    # Completes the batches even when there are none to map (an extract with nothing to do).
    yield Output(None, output_name="planned", metadata={"batches": len(batches)})


# Nothing out: what a batch did is in the ledger, which the next step reads; storing a value per batch
# step too would cost an IO-manager write and an event each (about 10 ms of every step).
@op(out=Out(Nothing))
def kbo_apply_batch(context: OpExecutionContext, batch: Batch, kbo_db: KboDatabase) -> None:
    """Apply one batch in one transaction with its ledger row; a completed batch is skipped."""
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            result = apply_batch(conn, batch)
            progress = job_progress(conn, batch.job_id)
    done = "retired" if batch.operation == Operation.DELETE else "inserted"
    context.log.info(
        f"{batch.table} {batch.operation} batch {batch.batch_number}/{batch.batches_in_part}: "
        f"{batch.records_count} rows, {result.rows_affected} {done} in {result.seconds:.2f} s"
        f"{' (already done)' if result.skipped else ''} | overall {progress.describe()}"
    )


@op(
    ins={"planned": In(Nothing), "batches_applied": In(Nothing)},
    out={table: Out(Nothing) for table in TABLES},
)
def kbo_complete_batches(context: OpExecutionContext, kbo_db: KboDatabase):
    """After the batch steps: apply any batch no step ran, refuse while a batch is failed, resolve the
    primary names, and report each applied table (its asset materialization and its checks).

    After a run was terminated, Dagster's re-execution from failure re-runs the interrupted step but
    not the mapped steps that never started; this picks those up, each still its own transaction."""
    number = extract_number(context)
    summaries, names = [], 0
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            job_id = active_job(conn, number)
            if job_id is not None:
                unstarted = plan_batches(conn, job_id, statuses=(BatchStatus.PENDING, BatchStatus.PROCESSING))
                for batch in unstarted:
                    result = apply_batch(conn, batch)
                    context.log.debug(f"{batch.mapping_key}: applied after a stop ({result.rows_affected} rows)")
                if unstarted:
                    context.log.info(f"{len(unstarted)} batch(es) that no step had run were applied")
                names = resolve_names(conn, job_id)
                summaries = table_summaries(conn, job_id)
    if not summaries:
        context.log.info(f"extract {number}: nothing changed")
        for table in TABLES:
            yield Output(None, output_name=table, metadata={"changed": False})
        return
    context.log.info(f"extract {number}: all batches applied, {names} primary names resolved")
    for summary in summaries:
        yield Output(
            None,
            output_name=summary.table,
            metadata={
                "rows_deleted": summary.rows_deleted,
                "rows_inserted": summary.rows_inserted,
                "current_rows": summary.current_rows,
                "batches": summary.batches,
                "seconds": MetadataValue.float(round(summary.seconds, 3)),
                **({"names_resolved": names} if summary.table == "enterprise" else {}),
            },
        )


class RollbackConfig(Config):
    extract_number: int


@op
def kbo_rollback_extract(
    context: OpExecutionContext, config: RollbackConfig, kbo_db: KboDatabase, kbo_paths: KboPaths
) -> RollbackResult:
    """Undo one extract (the latest applied, or an unfinished newer one) in one transaction, remove
    whatever of it is still unpacked, and take its change set out of the export folder (and the
    manifest) so that consumers never read changes the database no longer holds."""
    export_dir = kbo_paths.exports_for(kbo_db.database)
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            result = rollback_extract(conn, config.extract_number, kbo_paths.work_for(kbo_db.database))
    # Committed: whatever happens from here, the next export or rollback brings the folder in line again.
    valid = "none"
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            try:
                valid = ", ".join(map(str, sync_exports(conn, export_dir).extracts)) or "none"
            except ExportFolderError as exc:  # not this database's folder: nothing of ours to take out
                context.log.warning(str(exc))
    context.log.info(
        f"extract {result.extract_number} rolled back: {result.rows_removed} rows removed, "
        f"{result.rows_restored} rows current again, {result.names_resolved} primary names recomputed"
        + ("" if result.code_restored else " (code table left as it was: no backup)")
    )
    context.add_output_metadata(
        {
            "rows_removed": result.rows_removed,
            "rows_restored": result.rows_restored,
            "names_resolved": result.names_resolved,
            "valid_exports": MetadataValue.text(valid),
        }
    )
    return result


class FetchConfig(Config):
    file_name: str


@op
def kbo_fetch_extract(context: OpExecutionContext, config: FetchConfig, kbo_paths: KboPaths) -> str:
    """Download one extract from the portal into the landing folder (credentials from the environment)."""
    for attempt in retrying(context.log):
        with attempt:
            path = portal_client().download(config.file_name, Path(kbo_paths.landing_dir))
    context.log.info(f"landed {path}")
    context.add_output_metadata({"bytes": path.stat().st_size, "path": str(path)})
    return str(path)
