"""Dagster's default run launcher, plus the health check that run monitoring needs to see a run whose
process died with the host (a reboot, the container restarted, the OOM killer): without it such a run
stays STARTED for good. Configured by the dagster.yaml that `kbo` writes (cli/instance.py)."""

from dagster import DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from kbo_pipeline.defs.run_monitor import dead_worker, death_message, unjudged, worker_of


class KboRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        worker = dead_worker(run)
        if worker is not None:
            return CheckRunHealthResult(WorkerStatus.FAILED, death_message(self._instance, run, worker))
        note = unjudged(run)
        if note is not None:  # said in the daemon's log every check, never failed on a guess
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, note)
        # Alive, or not recorded yet (resources not started): never fail a run we cannot see dead.
        return CheckRunHealthResult(WorkerStatus.RUNNING, "alive" if worker_of(run) else "no worker recorded yet")

    def get_run_worker_debug_info(self, run, include_container_logs=True) -> str | None:
        worker = dead_worker(run)
        return death_message(self._instance, run, worker) if worker is not None else None
