"""`python -m kbo_pipeline.dev.bench_clients --scale full`: the default DuckDB client against the one
MotherDuck accepts, on the same data in one run.

The project installs DuckDB 2.0.0 by default and 1.5.6 for MotherDuck (constraints/motherduck.txt, made
by `make install-motherduck` in .venv-motherduck). This generates the bench's Full and a daily update
once, then, in each environment's own interpreter, times the bare loader (typed read_csv into the same
tables), the Full through `kbo import` (exports included, as by default) and the daily update through
`kbo import` on the loaded database, each on a local file. Ratios are 1.5.6 against 2.0.0.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

from kbo_pipeline import settings
from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.dev.bench import (
    DAILY,
    FULL_ENTERPRISES,
    SCALES,
    baseline_load,
    generate_full,
    generate_update,
    timed_command,
)

OTHER = Path(".venv-motherduck/bin/python")


def measure(full: Path, update: Path, csv_folder: Path, out: Path) -> dict:
    """In this interpreter: the bare loader, then the Full and the daily update through kbo import."""
    out.mkdir(parents=True)
    csvs = {e.full_member: csv_folder / e.full_member for e in ENTITIES}
    baseline = baseline_load(out / "baseline.duckdb", csvs)
    (out / "baseline.duckdb").unlink()
    full_import = timed_command(full, out / "kbo.duckdb", out / "work")
    daily_import = timed_command(update, out / "kbo.duckdb", out / "work")
    return {
        "duckdb": duckdb.__version__,
        "baseline": baseline,
        "full command": full_import.seconds,
        "full run": full_import.run.run_seconds,
        "daily command": daily_import.seconds,
        "daily run": daily_import.run.run_seconds,
    }


def run(scale: str, root: Path, other: Path) -> None:
    n = max(200, int(FULL_ENTERPRISES * SCALES[scale]))
    data = root / "data"
    data.mkdir()
    full, csvs = generate_full(data, n)
    update = generate_update(data, csvs, 141, DAILY, seed=1)
    print(f"scale {scale}: {n:,} enterprises; {os.cpu_count()} cores; interpreters {sys.executable} and {other}")
    results = []
    for index, python in enumerate((Path(sys.executable), other)):
        folder = root / f"client-{index}"
        env = settings.child_environment(DAGSTER_HOME=str(folder / "dagster_home"))
        (folder / "dagster_home").mkdir(parents=True)
        out = folder / "out"
        child = subprocess.run(
            [str(python), "-m", "kbo_pipeline.dev.bench_clients", "--measure", *map(str, (full, update, data, out))],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(f"{'':<32}" + "".join(f"{'duckdb ' + r['duckdb']:>16}" for r in results) + f"{'ratio':>8}")
    for key in ("baseline", "full command", "full run", "daily command", "daily run"):
        first, second = results[0][key], results[1][key]
        label = {"baseline": "bare loader (read_csv), s"}.get(key, f"kbo import, {key}, s")
        print(f"{label:<32}{first:>16.2f}{second:>16.2f}{second / first:>8.2f}")
    for result in results:
        print(
            f"duckdb {result['duckdb']}: Full command / bare loader {result['full command'] / result['baseline']:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--other-python", type=Path, default=OTHER, help="the MotherDuck environment's python")
    parser.add_argument("--measure", nargs=4, metavar=("FULL", "UPDATE", "CSVS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        full, update, csvs, out = map(Path, args.measure)
        print(json.dumps(measure(full, update, csvs, out)))
        return 0
    with tempfile.TemporaryDirectory(prefix="kbo-bench-clients-") as folder:
        run(args.scale, Path(folder), args.other_python.absolute())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
