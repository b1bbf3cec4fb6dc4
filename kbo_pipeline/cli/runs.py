"""Launching the kbo_import job for one extract ZIP, as the command line (and the tests) do: a run on
the Dagster instance, exactly the job the UI materializes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
from dagster import DagsterInstance, JobExecutionResult, execute_job, reconstructable

from kbo_pipeline import settings
from kbo_pipeline.cli.render import bar
from kbo_pipeline.core.database import connect, resolve_database
from kbo_pipeline.core.extract import ExtractError, parse_file_name, partition_key_for
from kbo_pipeline.core.progress import job_progress
from kbo_pipeline.definitions import get_import_job, get_rollback_job


def import_run_config(
    zip_path: Path,
    database: str,
    work_dir: str | None = None,
    batch_sizes: dict[str, int] | None = None,
    log_level: str | None = None,
    accept_drift: bool = False,
) -> dict:
    config = {
        "ops": {
            "kbo_extract": {"config": {"zip_path": str(zip_path)}},
            "kbo_staging": {"config": {"batch_sizes": batch_sizes or {}, "accept_drift": accept_drift}},
        },
        "resources": {"kbo_db": {"config": {"database": database}}},
        "loggers": {"console": {"config": {"log_level": log_level or settings.log_level()}}},
    }
    # The work and export folders follow the database the run writes (empty: beside it), never the
    # default database's: `kbo import --database other.duckdb` exports beside other.duckdb.
    config["resources"]["kbo_paths"] = {
        "config": {
            "landing_dir": str(settings.landing_dir()),
            "work_dir": str(work_dir) if work_dir is not None else settings.configured_work_dir(),
            "export_dir": settings.configured_export_dir(),
        }
    }
    return config


@dataclass(frozen=True)
class RunOutcome:
    """What a launched run ended with. Not Dagster's JobExecutionResult: entering that one (`with`)
    builds the run's context again after the run, starting its resources a second time (the import
    lock taken, the state file rewritten, and a failure there reported on a run that succeeded).
    A no-op context manager, so that `with launch_import(...) as result:` reads as before."""

    success: bool
    run_id: str
    all_events: list

    def __enter__(self) -> RunOutcome:
        return self

    def __exit__(self, *exc) -> None:
        return None


def _outcome(result: JobExecutionResult) -> RunOutcome:
    return RunOutcome(result.success, result.run_id, list(result.all_events))


def launch_import(
    instance: DagsterInstance, zip_path: Path, database: str, work_dir: str | None = None, **options
) -> RunOutcome:
    """Run the import of one ZIP to the end in this process. `options` are import_run_config's
    (batch_sizes, log_level, accept_drift)."""
    zip_path = Path(zip_path).resolve()
    key = partition_key_for(zip_path.name)
    instance.add_dynamic_partitions("kbo_extracts", [key])
    return _outcome(
        execute_job(
            reconstructable(get_import_job),
            instance=instance,
            run_config=import_run_config(zip_path, database, work_dir, **options),
            tags={"dagster/partition": key, "kbo/source": "cli", settings.DATABASE_TAG: resolve_database(database)},
            raise_on_error=False,
        )
    )


def run_errors(result: RunOutcome | JobExecutionResult) -> list[str]:
    """The errors of a failed run: its failed steps', or the run's own (a resource that could not start)."""
    errors = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if error is None or event.event_type_value not in ("STEP_FAILURE", "RUN_FAILURE", "ENGINE_EVENT"):
            continue
        cause = error
        while cause.cause is not None and "resource" in cause.message.lower():
            cause = cause.cause  # "Error executing resource_fn..." says less than what it wraps
        errors.append(f"{event.step_key or 'run'}: {error_message(cause)}")
    return errors


def error_message(error) -> str:
    """What an operator needs of a step's error: the message, without the exception's module path
    (`dagster._core.definitions.events.Failure: ...`, `kbo_pipeline.core.import_lock.ImportLocked: ...`)."""
    message = error.message.strip()
    prefix, _, rest = message.partition(": ")
    if rest and "." in prefix and prefix.endswith(error.cls_name):  # a bare `KeyError: ...` keeps its class
        return rest.strip()
    return message


def launch_rollback(instance: DagsterInstance, extract_number: int, database: str) -> RunOutcome:
    """Run the kbo_rollback job for extract N in this process."""
    return _outcome(
        execute_job(
            reconstructable(get_rollback_job),
            instance=instance,
            run_config={
                "ops": {"kbo_rollback_extract": {"config": {"extract_number": extract_number}}},
                "resources": {"kbo_db": {"config": {"database": database}}},
                "loggers": {"console": {"config": {"log_level": settings.log_level()}}},
            },
            tags={
                "kbo/source": "cli",
                "kbo/rollback": str(extract_number),
                settings.DATABASE_TAG: resolve_database(database),
            },
            raise_on_error=False,
        )
    )


class ProgressBar:
    """A progress bar on the terminal while `kbo import` runs: polls the ledger from a thread, on a
    connection of this same process (the run's steps share its DuckDB instance, so no lock is in the way)."""

    def __init__(self, database: str, zip_path: Path, stream):
        self.database, self.stream = database, stream
        self.name = Path(zip_path).name
        try:
            self.number = parse_file_name(self.name)[0]
        except ExtractError:
            self.number = None  # the run refuses the file and says why; nothing to draw meanwhile
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        if self.number is None:
            return
        try:
            with connect(self.database, settings.duckdb_config()) as conn:
                job = conn.execute(
                    "SELECT job_id FROM import_jobs WHERE extract_number = $n", {"n": self.number}
                ).fetchone()
                if job is None:
                    return
                progress = job_progress(conn, job[0])
        except duckdb.Error:
            return  # not created yet, or busy: the next poll will do
        text = progress.describe() if progress.total else "validating and staging"
        self.stream.write(f"\r{self.name}  {bar(progress.done, progress.total, 30)}  {text}\033[K")
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._draw()
        self._draw()
