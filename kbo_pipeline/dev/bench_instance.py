"""What the Dagster instance's storage costs: the same imports on kbo's SQLite instance (what `kbo`
writes into DAGSTER_HOME) and on PostgreSQL (deploy/dagster.yaml, a throwaway server from the
distribution's packages), in one run. Prints, per instance: Dagster's cost of one empty step, a
generated Full, and a daily Update at small batch sizes (many steps), with the mean batch step and the
step phases, and the ratio PostgreSQL / SQLite.

    python -m kbo_pipeline.dev.bench_instance
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance

from kbo_pipeline import settings
from kbo_pipeline.cli.instance import deploy_instance_yaml, instance_yaml
from kbo_pipeline.cli.runs import launch_import
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.dev.bench import empty_step_seconds
from kbo_pipeline.dev.postgres import postgres_server
from kbo_pipeline.dev.sample import write_samples

UPDATE_SIZES = {t: 5 for t in TABLES}  # many small batches: the per-step cost dominates


def measure(home: Path, samples: list[Path], root: Path) -> dict[str, float]:
    settings.use_dagster_home(home)
    database, work = str(root / f"{home.name}.duckdb"), str(root / f"{home.name}.work")
    figures = {}
    with DagsterInstance.get() as instance:
        figures["empty step"] = empty_step_seconds(instance)
        started = time.monotonic()
        with launch_import(instance, samples[0], database, work, log_level="WARNING") as full:
            assert full.success
        figures["Full import"] = time.monotonic() - started
        started = time.monotonic()
        with launch_import(instance, samples[1], database, work, batch_sizes=UPDATE_SIZES, log_level="WARNING") as run:
            assert run.success
        figures["Update import"] = time.monotonic() - started
        stats = instance.get_run_step_stats(run.run_id)
        batches = [s.end_time - s.start_time for s in stats if "kbo_apply_batch[" in s.step_key]
        figures["Update batch steps"] = len(batches)
        figures["mean batch step"] = statistics.mean(batches)
        figures["Update steps total"] = sum(s.end_time - s.start_time for s in stats)
    return figures


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="kbo-bench-instance-"))
    samples = write_samples(root / "samples", updates=1, enterprises=2000, changes=400, seed=3)
    sqlite_home = root / "sqlite"
    sqlite_home.mkdir()
    (sqlite_home / "dagster.yaml").write_text(instance_yaml(retries=0))
    results = {"sqlite": measure(sqlite_home, samples, root)}
    with postgres_server(durable=True) as server:
        for key, value in server.environment().items():
            settings.set_variable(key, value)
        postgres_home = root / "postgres"
        postgres_home.mkdir()
        (postgres_home / "dagster.yaml").write_text(deploy_instance_yaml())
        results["postgres"] = measure(postgres_home, samples, root)
    print(f"{'':<22}{'SQLite':>10}{'PostgreSQL':>12}{'ratio':>8}")
    for name in results["sqlite"]:
        a, b = results["sqlite"][name], results["postgres"][name]
        unit = "" if name == "Update batch steps" else " s"
        print(f"{name:<22}{a:>9.3f}{unit:<1}{b:>11.3f}{unit:<1}{b / a if a else 0:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
