"""Runs the tests need in a given state, and waiting for an event."""

import time

from dagster import DagsterInstance, execute_job, reconstructable

from kbo_pipeline.cli.runs import import_run_config, launch_import
from kbo_pipeline.definitions import get_import_job


def run_with_a_gap(instance: DagsterInstance, samples, database: str, work_dir) -> str:
    """Full 140 applied, then a run of Update 142, refused because 141 is missing; that run's id."""
    with launch_import(instance, samples[0], database, work_dir=work_dir) as result:
        assert result.success
    instance.add_dynamic_partitions("kbo_extracts", [samples[2].stem])
    with execute_job(
        reconstructable(get_import_job),
        instance=instance,
        run_config=import_run_config(samples[2], database, str(work_dir)),
        tags={"dagster/partition": samples[2].stem},
    ) as gap:
        assert not gap.success
        return gap.run_id


def wait_until(condition, what: str, timeout: float = 300, explain=lambda: ""):
    """condition()'s first true value, looked for every half second; a clear failure past the timeout
    (which only bounds a hang: the tests wait for events, never for a time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s\n{explain()}")
