"""How long a tick of the landing sensor takes over a folder of N extract-named files (two ticks: the
first sees them, the second finds them unchanged), without a database. Prints seconds per tick and the
ratio to the smallest N, so that growth beyond linear shows.

    python -m kbo_pipeline.dev.bench_tick 1000 4000 10000
"""

import sys
import tempfile
import time
from pathlib import Path

from dagster import build_sensor_context

from kbo_pipeline.defs.sensors import evaluate_landing


def tick_seconds(files: int) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="kbo-tick-"))
    landing = root / "landing"
    landing.mkdir()
    for i in range(files):
        (landing / f"KboOpenData_{i % 10000:04d}_2025_{1 + i // 10000:02d}_05_Update.zip").write_bytes(b"x")
    cursor, seconds = None, []
    for _ in range(2):
        context = build_sensor_context(cursor=cursor)
        started = time.perf_counter()
        evaluate_landing(context, str(root / "kbo.duckdb"), landing)
        seconds.append(time.perf_counter() - started)
        cursor = context.cursor
    return seconds


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [1000, 4000, 10000]
    first = None
    for files in sizes:
        one, two = tick_seconds(files)
        first = first or (two / files)
        print(
            f"{files:>6,} files: tick 1 {one:.3f} s, tick 2 {two:.3f} s; per file vs {sizes[0]:,}: {two / files / first:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
