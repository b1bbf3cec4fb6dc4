"""Dagster's run queue, with each run's database tag (kbo/database) computed when the run is launched.

The queue (dagster.yaml, written by cli/instance.py) lets one run per value of that tag run at a time,
and the landing sensor waits while a run of its database is in flight. A job's own tag names the code
location's default database; a run whose config names another (a Launchpad run with
`resources.kbo_db.config.database`) is tagged with that one before it is queued. The run's database
resource checks the tag again when the run starts, so that an instance on Dagster's default
coordinator tags it right too (from then on)."""

from __future__ import annotations

from dagster import DagsterInstance, QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun

from kbo_pipeline import settings
from kbo_pipeline.core.database import resolve_database


def configured_database(run: DagsterRun) -> str | None:
    """The database a run's config names for its kbo_db resource (resolved), if it names one."""
    resources = (run.run_config or {}).get("resources") or {}
    database = ((resources.get("kbo_db") or {}).get("config") or {}).get("database")
    return resolve_database(database) if database else None


def tag_database(instance: DagsterInstance | None, run: DagsterRun, database: str) -> None:
    """Set the run's database tag to `database` where it says otherwise."""
    if instance is not None and run.tags.get(settings.DATABASE_TAG) != database:
        instance.add_run_tags(run.run_id, {settings.DATABASE_TAG: database})


class KboRunCoordinator(QueuedRunCoordinator):
    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        database = configured_database(run)
        if database is not None and settings.DATABASE_TAG in run.tags:  # a job that writes a database
            tag_database(self._instance, run, database)
            context = SubmitRunContext(self._instance.get_run_by_id(run.run_id), context.workspace)
        return super().submit_run(context)
