"""The Dagster code location: what defs/ defines, put together. Loaded by `dagster dev -w workspace.yaml`,
`dagster dev -m kbo_pipeline.definitions` and `dg` ([tool.dg] in pyproject.toml)."""

from __future__ import annotations

import warnings

from dagster import BetaWarning, Definitions

from kbo_pipeline.defs.assets import ASSETS
from kbo_pipeline.defs.checks import CHECKS
from kbo_pipeline.defs.console_log import kbo_console_logger
from kbo_pipeline.defs.exports import EXPORT_CHECKS, EXPORTS
from kbo_pipeline.defs.jobs import JOBS, SCHEDULES, kbo_fetch, kbo_import_job
from kbo_pipeline.defs.resources import default_resources
from kbo_pipeline.defs.sensors import build_extract_sensor, build_portal_sensor

# Dagster 1.13's own sensor machinery warns about a beta parameter we do not use, on every load.
warnings.filterwarnings("ignore", message="Parameter `owners`", category=BetaWarning)
kbo_extract_sensor = build_extract_sensor(kbo_import_job)
kbo_portal_sensor = build_portal_sensor(kbo_fetch)

defs = Definitions(
    assets=ASSETS + EXPORTS,
    asset_checks=CHECKS + EXPORT_CHECKS,
    jobs=JOBS,
    schedules=SCHEDULES,
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
