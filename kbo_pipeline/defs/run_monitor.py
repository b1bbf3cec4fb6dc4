"""Runs whose process has died: seen, reported failed, so that the run view offers Re-execute → From
failure and Dagster's run retries can resume them.

Every run records its worker (host, boot, pid, start time) as the run tag `kbo/run_worker` when its
resources start. Two places use it: the run launcher's health check (run_launcher.py), which Dagster's
run monitoring daemon calls for every started run while `dagster dev` runs; and `reap_dead_runs`,
which every `kbo` command calls first, for runs that `kbo import` ran in its own process and no daemon
watches.
"""

from __future__ import annotations

import json

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.events import JobFailureData, RunFailureReason

from kbo_pipeline import settings
from kbo_pipeline.core.lease import holder_left
from kbo_pipeline.core.run_worker import describe, is_alive, this_process

WORKER_TAG = "kbo/run_worker"


def record_worker(context) -> None:
    """Called from the resources' setup in the run's own process (InitResourceContext)."""
    run = getattr(context, "run", None)
    instance = getattr(context, "instance", None)
    if run is None or instance is None or (worker_of(run) or {}).get("pid") == this_process()["pid"]:
        return
    instance.add_run_tags(run.run_id, {WORKER_TAG: json.dumps({"run_id": run.run_id, **this_process()})})


def worker_of(run: DagsterRun) -> dict | None:
    """The run's own worker. A re-execution inherits its parent's tags, the parent's (dead) worker
    among them: a record that names another run says nothing about this one."""
    try:
        worker = json.loads(run.tags[WORKER_TAG])
    except (KeyError, ValueError):
        return None
    return worker if worker.get("run_id") == run.run_id else None


def last_batch(instance: DagsterInstance, run_id: str) -> str:
    """What the run had done: its batch steps that succeeded, and the last of them."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS, limit=100_000).records
    batches = [r.event_log_entry.step_key for r in records if "kbo_apply_batch[" in (r.event_log_entry.step_key or "")]
    if not batches:
        return "no batch step had completed"
    return f"{len(batches)} batch step(s) had completed, the last {batches[-1]}"


def death_message(instance: DagsterInstance, run: DagsterRun, worker: dict) -> str:
    return (
        f"run worker died: {describe(worker)}; {last_batch(instance, run.run_id)}. Committed batches stay applied "
        "and the one in flight was rolled back: Re-execute → From failure finishes the import."
    )


def run_holder(run: DagsterRun) -> str:
    """What a run writes into the import lock it holds (KboDatabase)."""
    return f"dagster run {run.run_id}"


def dead_worker(run: DagsterRun) -> dict | None:
    """The run's recorded worker if it is known to be dead; None when alive, unjudgeable or unrecorded.
    A worker this process cannot judge by its pid (another container, another host name) is dead too
    when it left its database's import lock behind: free, and still naming the run."""
    worker = worker_of(run)
    if worker is None:
        return None
    alive = is_alive(worker)
    database = run.tags.get(settings.DATABASE_TAG)
    if alive is None and database and holder_left(database, run_holder(run)):
        return worker
    return worker if alive is False else None


def unjudged(run: DagsterRun) -> str | None:
    """Why a started run's worker cannot be judged from here (None: it can, or nothing is recorded)."""
    worker = worker_of(run)
    if worker is None or is_alive(worker) is not None:
        return None
    return (
        f"run {run.run_id} ({run.job_name}): its worker ({describe(worker)}) cannot be judged from this host; "
        "if it is gone, terminate the run in the UI (Terminate, then Re-execute from failure)"
    )


def reap_dead_runs(instance: DagsterInstance) -> list[str]:
    """Report every started (or canceling) run whose worker has died as failed (canceled); returns
    what was said, one line per run."""
    said = []
    runs = instance.get_runs(
        RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING])
    )
    for run in runs:
        worker = dead_worker(run)
        if worker is None:
            note = unjudged(run)
            if note:
                said.append(note)  # reported, so that no run sits STARTED unnoticed
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.is_finished:
            continue  # finished meanwhile (another process reported it)
        message = death_message(instance, run, worker)
        if current.status == DagsterRunStatus.CANCELING:
            instance.report_run_canceled(current, message)
        else:
            instance.report_run_failed(
                current, message, JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)
            )
        said.append(f"run {run.run_id} ({run.job_name}): {message}")
    return said
