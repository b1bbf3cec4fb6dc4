"""The landing-folder sensor: a new extract ZIP becomes a run of the import, in extract order, once.

The database's ledger decides what runs, never Dagster's memory of earlier runs: a tick reads the
ledger (ledger_state.py), waits while a run for the same database is queued or running, and requests
the next extract in sequence unless the ledger says to leave that file alone (rolled back, or failed
on its content). Its run requests carry no run key: a rebuilt or restored database is filled again,
and a rolled-back extract is applied again only by a person's `kbo import`.
"""

import json
import time
from pathlib import Path

from dagster import (
    AssetObservation,
    DagsterInstance,
    DagsterInvariantViolationError,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.events import RunFailureReason
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES, RunRecord
from dagster._core.storage.tags import RUN_FAILURE_REASON_TAG

from kbo_pipeline import settings
from kbo_pipeline.core.database import resolve_database
from kbo_pipeline.core.extract import partition_key_for
from kbo_pipeline.core.ledger import UNFINISHED_JOBS, FailureKind
from kbo_pipeline.core.ledger_state import current_ledger
from kbo_pipeline.defs.assets import asset_key
from kbo_pipeline.defs.jobs import kbo_fetch, kbo_import_job
from kbo_pipeline.defs.partitions import extract_partitions
from kbo_pipeline.defs.resources import KboDatabase, KboPaths
from kbo_pipeline.defs.run_monitor import reap_dead_runs
from kbo_pipeline.sources.landing import choose_next, content_key, judge, list_landing, remember, stable_files
from kbo_pipeline.sources.portal import PortalError, extracts_to_apply, portal_client, wanted_extracts

DATABASE_TAG = settings.DATABASE_TAG
FETCH_TAG = "kbo/fetch"  # the file a portal download run fetches


def _instance(context: SensorEvaluationContext) -> DagsterInstance | None:
    try:
        return context.instance
    except DagsterInvariantViolationError:  # a context built without an instance (a unit test)
        return None


def run_in_flight(instance: DagsterInstance | None, database: str) -> str | None:
    """A run (import or rollback) of this database that is queued or running, described; None if none."""
    if instance is None:
        return None
    runs = instance.get_runs(RunsFilter(statuses=NOT_FINISHED_STATUSES, tags={DATABASE_TAG: database}), limit=1)
    if not runs:
        return None
    run = runs[0]
    what = run.tags.get("dagster/partition") or run.job_name
    return f"run {run.run_id} ({what}) is {run.status.value.lower()} for {database}"


def fetch_in_flight(instance: DagsterInstance | None, file_name: str) -> bool:
    if instance is None:
        return False
    return bool(instance.get_runs(RunsFilter(statuses=NOT_FINISHED_STATUSES, tags={FETCH_TAG: file_name}), limit=1))


def latest_run(instance: DagsterInstance | None, database: str, partition: str) -> RunRecord | None:
    """This partition's latest run for this database."""
    if instance is None:
        return None
    records = instance.get_run_records(
        RunsFilter(tags={DATABASE_TAG: database, "dagster/partition": partition}), limit=1
    )
    return records[0] if records else None


def failed_seconds_ago(record: RunRecord | None) -> float | None:
    """Seconds since the run failed, if it did."""
    if record is None or record.dagster_run.status != DagsterRunStatus.FAILURE or record.end_time is None:
        return None
    return time.time() - record.end_time


def crashed_without_retry(instance: DagsterInstance | None, record: RunRecord | None) -> bool:
    """Whether the run died (its process gone, reported by run monitoring or a kbo command) where the
    instance means such runs to be retried but Dagster cannot: a run of `kbo import`, executed in the
    command's own process, has no code-location origin to retry from. The sensor resumes its job in
    Dagster's stead. With run retries off, a crash waits for a person."""
    if instance is None or not instance.run_retries_enabled or instance.run_retries_max_retries < 1:
        return False
    if record is None or record.dagster_run.status != DagsterRunStatus.FAILURE:
        return False
    run = record.dagster_run
    return (
        run.tags.get(RUN_FAILURE_REASON_TAG) == RunFailureReason.UNEXPECTED_TERMINATION.value
        and run.remote_job_origin is None
    )


def evaluate_landing(context: SensorEvaluationContext, database: str, landing) -> SensorResult | SkipReason:
    database = resolve_database(database)
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen: dict[str, list] = cursor.get("files", {})
    files = list_landing(landing)
    ready = stable_files(files, seen)
    seen = remember(files, seen)

    def skip(reason: str) -> SkipReason:
        context.update_cursor(json.dumps({"files": seen}))
        return SkipReason(reason)

    instance = _instance(context)
    busy = run_in_flight(instance, database)
    if busy:
        return skip(f"{busy}: waiting for it to end")
    reading = current_ledger(database)
    if reading.note:
        context.log.info(reading.note)
    if reading.state is None:
        return skip(f"{reading.note}: trying again next tick")
    ledger = reading.state
    decision = choose_next(ready, ledger.latest_applied)
    if decision.file is None:
        waiting = sorted({f.name for f in files} - {f.name for f in ready})
        note = f" ({len(waiting)} file(s) still being written: {', '.join(waiting)})" if waiting else ""
        return skip(decision.reason + note)
    chosen = decision.file
    digest = content_key(chosen, seen)
    job = ledger.open_jobs.get(chosen.number)
    leave = judge(chosen, digest, job)
    key = partition_key_for(chosen.name)
    last = latest_run(instance, database, key) if job is not None else None
    crashed = leave and job.status in UNFINISHED_JOBS and job.failure_kind is None
    if crashed and crashed_without_retry(instance, last):
        leave = None  # a crash, not the file: resume it (committed batches are not applied again)
        context.log.info(f"{chosen.name}: its `kbo import` run died and Dagster cannot retry it: resuming it")
    if leave:
        return skip(leave)
    if job is not None and job.failure_kind == FailureKind.RESOURCE:
        since = failed_seconds_ago(last)
        wait = settings.resource_retry_seconds()
        if since is not None and since < wait:
            return skip(
                f"{chosen.name}: its last run failed on a resource ({job.error_message}); "
                f"trying again {wait - since:.0f} s from now (KBO_RESOURCE_RETRY_SECONDS)"
            )
    context.log.info(f"{chosen.name}: {decision.reason} (ledger read from the {reading.source})")
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=key,
                run_config={
                    "ops": {
                        "kbo_extract": {
                            "config": {"zip_path": str(chosen.path.resolve()), "reapply_rolled_back": False}
                        }
                    },
                    "resources": {"kbo_db": {"config": {"database": database}}},
                },
                tags={"kbo/source": "sensor", "kbo/sha256": digest, DATABASE_TAG: database},
            )
        ],
        dynamic_partitions_requests=[extract_partitions.build_add_request([key])],
        cursor=json.dumps({"files": seen}),
    )


def build_extract_sensor(job):
    @sensor(
        name="kbo_extract_sensor",
        job=job,
        minimum_interval_seconds=settings.sensor_interval(),
        default_status=DefaultSensorStatus.RUNNING if settings.extract_sensor_on() else DefaultSensorStatus.STOPPED,
        description="Imports new extract ZIPs from the landing folder (KBO_LANDING_DIR), the next in sequence only.",
    )
    def kbo_extract_sensor(context: SensorEvaluationContext, kbo_db: KboDatabase, kbo_paths: KboPaths):
        # A run whose process died (a killed `kbo import`, a crashed host) is reported failed here too,
        # for instances whose dagster.yaml has no run monitoring.
        instance = _instance(context)
        for line in reap_dead_runs(instance) if instance is not None else ():
            context.log.warning(line)
        return evaluate_landing(context, kbo_db.database, Path(kbo_paths.landing_dir))

    return kbo_extract_sensor


def build_portal_sensor(fetch_job):
    """Off unless KBO_USERNAME and KBO_PASSWORD are set: lists the portal, and launches one download
    run per extract the landing folder lacks (the landing sensor then imports it)."""
    portal = settings.portal()

    @sensor(
        name="kbo_portal_sensor",
        job=fetch_job,
        minimum_interval_seconds=settings.portal_interval(),
        default_status=DefaultSensorStatus.RUNNING
        if portal.username and portal.password
        else DefaultSensorStatus.STOPPED,
        description="Downloads new extracts from the KBO open-data portal into the landing folder.",
    )
    def kbo_portal_sensor(context: SensorEvaluationContext, kbo_db: KboDatabase, kbo_paths: KboPaths):
        reading = current_ledger(resolve_database(kbo_db.database))
        if reading.state is None:
            return SkipReason(f"{reading.note}: trying again next tick")
        state = reading.state
        try:
            offered = portal_client(timeout=30).list_extracts()
        except PortalError as exc:
            return SkipReason(str(exc))
        behind = len(extracts_to_apply(offered, state.latest_applied))
        context.log.info(f"the database is {behind} extract(s) behind the portal")
        observed = [
            AssetObservation(
                asset_key=asset_key("extract"),
                metadata={
                    "extracts_behind_portal": behind,
                    "latest_applied": state.latest_applied if state.latest_applied is not None else -1,
                    "offered_on_portal": len(offered),
                },
            )
        ]
        wanted = wanted_extracts(offered, Path(kbo_paths.landing_dir), state.latest_applied)
        # No run key (a download that failed is tried again at the next look), but never two downloads
        # of one file at a time.
        busy = {name for name in wanted if fetch_in_flight(_instance(context), name)}
        wanted = [name for name in wanted if name not in busy]
        if not wanted:
            return SensorResult(
                skip_reason=f"nothing new on the portal ({len(offered)} extracts offered, the database is "
                f"{behind} behind)" + (f"; downloading {', '.join(sorted(busy))}" if busy else ""),
                asset_events=observed,
            )
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_config={"ops": {"kbo_fetch_extract": {"config": {"file_name": name}}}},
                    tags={"kbo/source": "portal", FETCH_TAG: name},
                )
                for name in wanted
            ],
            asset_events=observed,
        )

    return kbo_portal_sensor


kbo_extract_sensor = build_extract_sensor(kbo_import_job)
kbo_portal_sensor = build_portal_sensor(kbo_fetch)
