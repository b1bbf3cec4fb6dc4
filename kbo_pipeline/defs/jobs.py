"""The jobs and the schedule: the import (every asset of one extract partition), the rollback, the
portal download and the audit."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
    job,
)

from kbo_pipeline import settings
from kbo_pipeline.core.database import resolve_database
from kbo_pipeline.defs.assets import GROUP
from kbo_pipeline.defs.checks import extract_is_fresh, kbo_audit_database
from kbo_pipeline.defs.ops import kbo_fetch_extract, kbo_rollback_extract
from kbo_pipeline.defs.resources import READ_ONLY_TAG

# The run queue (dagster.yaml) lets one run with a given kbo/database tag run at a time: the database
# this code location writes.
DATABASE_TAGS = {settings.DATABASE_TAG: resolve_database(settings.database_path())}

# In-process: many small batch steps against one DuckDB file, one at a time (a process per step would
# cost about a second each and could not share the file).
kbo_import_job = define_asset_job(
    "kbo_import",
    selection=AssetSelection.groups(GROUP),
    executor_def=in_process_executor,
    description="Apply one KBO extract (one partition) to the database in batches.",
    tags=DATABASE_TAGS,
)


@job(
    executor_def=in_process_executor,
    tags=DATABASE_TAGS,
    description="Undo one extract: the latest applied, or an unfinished one.",
)
def kbo_rollback():
    kbo_rollback_extract()


@job(
    executor_def=in_process_executor,
    tags=DATABASE_TAGS,
    description="Every data check over every table of the database, and every completed extract's ledger against the tables.",
)
def kbo_audit():
    kbo_audit_database()


# Off until an operator turns it on in the UI (Automation): an audit reads every table.
kbo_weekly_audit = ScheduleDefinition(
    name="kbo_weekly_audit", job=kbo_audit, cron_schedule="0 4 * * 0", default_status=DefaultScheduleStatus.STOPPED
)


@job(
    executor_def=in_process_executor,
    description="Download one extract from the open-data portal into the landing folder.",
)
def kbo_fetch():
    kbo_fetch_extract()


# The freshness check alone, every hour: it only reads the ledger (no import lock, outside the run queue).
kbo_freshness = define_asset_job(
    "kbo_freshness",
    selection=AssetSelection.checks(extract_is_fresh),
    executor_def=in_process_executor,
    tags={READ_ONLY_TAG: "true"},
    description="Is the latest extract recent enough (KBO_MAX_AGE_HOURS)? Fails its check when the pipeline stopped.",
)
kbo_freshness_schedule = ScheduleDefinition(
    name="kbo_freshness_schedule",
    job=kbo_freshness,
    cron_schedule="17 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
)

JOBS = [kbo_import_job, kbo_rollback, kbo_fetch, kbo_audit, kbo_freshness]
SCHEDULES = [kbo_weekly_audit, kbo_freshness_schedule]
