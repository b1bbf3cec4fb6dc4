"""The landing-folder sensor: a new extract ZIP becomes a run of the import, in extract order, once.

A tick lists the folder and reads the small ledger state file written after every run; it never opens
the database while a run may hold it. Run keys carry the file's content hash: a used run key is never
launched again, so an applied or failed file does not run twice, while a corrected file does run.
"""

import json

from dagster import (
    DagsterInvariantViolationError,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from kbo_pipeline import settings
from kbo_pipeline.core.extract import partition_key_for
from kbo_pipeline.core.ledger_state import LedgerState, current_ledger
from kbo_pipeline.defs.assets import extract_partitions
from kbo_pipeline.defs.run_monitor import reap_dead_runs
from kbo_pipeline.sources.landing import choose_next, content_key, list_landing, remember, stable_files
from kbo_pipeline.sources.portal import PortalError, portal_client, portal_settings, wanted_extracts


def evaluate_landing(context: SensorEvaluationContext, database: str, landing) -> SensorResult | SkipReason:
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen: dict[str, list] = cursor.get("files", {})
    files = list_landing(landing)
    ready = stable_files(files, seen)
    seen = remember(files, seen)
    new_cursor = json.dumps({"files": seen})
    state = current_ledger(database)
    if state is None:
        context.update_cursor(new_cursor)
        return SkipReason(f"{database} is busy and has no ledger state file yet: trying again next tick")
    decision = choose_next(ready, state.latest_applied)
    if decision.file is None:
        waiting = sorted({f.name for f in files} - {f.name for f in ready})
        note = f" ({len(waiting)} file(s) still being written: {', '.join(waiting)})" if waiting else ""
        context.update_cursor(new_cursor)
        return SkipReason(decision.reason + note)
    chosen = decision.file
    digest = content_key(chosen, seen)
    key = partition_key_for(chosen.name)
    context.log.info(f"{chosen.name}: {decision.reason}")
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=key,
                run_key=f"{key}:{digest[:16]}",
                run_config={"ops": {"kbo_extract": {"config": {"zip_path": str(chosen.path.resolve())}}}},
                tags={"kbo/source": "sensor", "kbo/sha256": digest},
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
    def kbo_extract_sensor(context: SensorEvaluationContext):
        # A run whose process died (a killed `kbo import`, a crashed host) is reported failed here too,
        # for instances whose dagster.yaml has no run monitoring.
        try:
            instance = context.instance
        except DagsterInvariantViolationError:  # a context built without an instance (a unit test)
            instance = None
        for line in reap_dead_runs(instance) if instance is not None else ():
            context.log.warning(line)
        return evaluate_landing(context, settings.database_path(), settings.landing_dir())

    return kbo_extract_sensor


def build_portal_sensor(fetch_job):
    """Off unless KBO_USERNAME and KBO_PASSWORD are set: lists the portal, and launches one download
    run per extract the landing folder lacks (the landing sensor then imports it)."""
    _, username, password = portal_settings()

    @sensor(
        name="kbo_portal_sensor",
        job=fetch_job,
        minimum_interval_seconds=settings.portal_interval(),
        default_status=DefaultSensorStatus.RUNNING if username and password else DefaultSensorStatus.STOPPED,
        description="Downloads new extracts from the KBO open-data portal into the landing folder.",
    )
    def kbo_portal_sensor(context: SensorEvaluationContext):
        state = current_ledger(settings.database_path()) or LedgerState(None)
        try:
            offered = portal_client(timeout=30).list_extracts()
        except PortalError as exc:
            return SkipReason(str(exc))
        wanted = wanted_extracts(offered, settings.landing_dir(), state.latest_applied)
        if not wanted:
            return SkipReason(f"nothing new on the portal ({len(offered)} extracts offered)")
        return [
            RunRequest(
                run_key=name,
                run_config={"ops": {"kbo_fetch_extract": {"config": {"file_name": name}}}},
                tags={"kbo/source": "portal"},
            )
            for name in wanted
        ]

    return kbo_portal_sensor
