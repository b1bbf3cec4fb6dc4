"""The Dagster code location: `dagster dev -w workspace.yaml` or `dagster dev -m kbo_pipeline.definitions`."""

from __future__ import annotations

import warnings

from dagster import (
    AssetSelection,
    BetaWarning,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
    job,
)

from kbo_pipeline import settings
from kbo_pipeline.core.database import resolve_database
from kbo_pipeline.defs.assets import ASSETS, GROUP
from kbo_pipeline.defs.checks import CHECKS, kbo_audit_database
from kbo_pipeline.defs.console_log import kbo_console_logger
from kbo_pipeline.defs.ops import kbo_fetch_extract, kbo_rollback_extract
from kbo_pipeline.defs.resources import default_resources
from kbo_pipeline.defs.sensors import build_extract_sensor, build_portal_sensor

# The run queue (dagster.yaml) lets one run with a given kbo/database tag run at a time: the database
# this code location writes.
DATABASE_TAGS = {"kbo/database": resolve_database(settings.database_path())}

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


# Dagster 1.13's own sensor machinery warns about a beta parameter we do not use, on every load.
warnings.filterwarnings("ignore", message="Parameter `owners`", category=BetaWarning)
kbo_extract_sensor = build_extract_sensor(kbo_import_job)
kbo_portal_sensor = build_portal_sensor(kbo_fetch)

defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[kbo_import_job, kbo_rollback, kbo_fetch, kbo_audit],
    schedules=[kbo_weekly_audit],
    sensors=[kbo_extract_sensor, kbo_portal_sensor],
    resources=default_resources(),
    loggers={"console": kbo_console_logger},
)


def get_import_job():
    """For `reconstructable`: the resolved job, as the code location defines it."""
    return defs.resolve_job_def("kbo_import")


def get_rollback_job():
    return defs.resolve_job_def("kbo_rollback")


def get_audit_job():
    return defs.resolve_job_def("kbo_audit")
