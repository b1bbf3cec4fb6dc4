"""Failpoints, a testing aid: make chosen batch steps fail at a chosen point, on purpose.

    KBO_FAILPOINTS="activity_insert_0002:before_commit:/tmp/fail-marker,enterprise_*:before_sql"

Each comma-separated entry is `PATTERN:POINT[:MARKER]`: PATTERN is a shell-style pattern matched against
the batch's name (`<table>_<operation>_<NNNN>`, as in the step name) or against `<extract>/<name>`
(`141/activity_insert_*`: only in extract 141); POINT is where it fails:

- `before_sql`: inside the batch's transaction, before its data change;
- `before_commit`: after the data change and the ledger update, just before the commit;
- `kill_before_commit`: as `before_commit`, but the process is killed (SIGKILL) instead of raising; with
  MARKER, the marker is renamed `MARKER.fired` first, so that it kills once;
- `wait_before_commit`: as `before_commit`, but the batch waits there, its transaction open, while MARKER
  exists (it writes `MARKER.reached` when it gets there): a test kills whatever it likes meanwhile;
- `commit_lost`: the COMMIT succeeds, then the caller sees `duckdb.IOException("Connection Error: ...")`,
  as when a commit over the network lands and its acknowledgement does not. Besides the batches, two
  more names take it: `staging` (the staging transaction) and `finalize` (the finalize transaction).

A Full read straight into an empty database has one batch per table, `<table>_insert_0001`, loaded
inside the staging transaction: its `before_sql` and `before_commit` (and their kill and wait forms)
fire there, with every table loaded so far still uncommitted.

With MARKER, the failpoint fires only while that file exists, so deleting the file lets a re-execution
succeed. Unset (the default), nothing ever fails on purpose.
"""

import fnmatch
import os
import signal
import time
from pathlib import Path

import duckdb

from kbo_pipeline import settings
from kbo_pipeline.errors import ConfigError

POINTS = ("before_sql", "before_commit", "kill_before_commit", "wait_before_commit", "commit_lost")


class FailpointHit(RuntimeError):
    pass


def _entries(spec: str):
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        pattern, _, rest = entry.partition(":")
        point, _, marker = rest.partition(":")
        if point not in POINTS:
            raise ConfigError(f"KBO_FAILPOINTS: unknown point {point!r} in {entry!r} (one of {', '.join(POINTS)})")
        if point == "wait_before_commit" and not marker:
            raise ConfigError(f"KBO_FAILPOINTS: wait_before_commit needs a marker file in {entry!r}")
        yield pattern, point, marker or None


def hit(point: str, name: str, extract_number: int | None = None) -> None:
    """Fail here if a failpoint says so; a no-op when KBO_FAILPOINTS is unset."""
    spec = settings.failpoints()
    if not spec:
        return
    names = [name] if extract_number is None else [name, f"{extract_number}/{name}"]
    for pattern, wanted, marker in _entries(spec):
        base = wanted.removeprefix("kill_").removeprefix("wait_")
        if point == base and any(fnmatch.fnmatchcase(n, pattern) for n in names):
            if marker is not None and not Path(marker).exists():
                continue
            if wanted.startswith("kill_"):
                if marker is not None:  # fires once: the retry of the killed run gets past it
                    Path(marker).rename(marker + ".fired")
                os.kill(os.getpid(), signal.SIGKILL)
            if wanted.startswith("wait_"):
                Path(marker + ".reached").write_text(str(os.getpid()))
                while Path(marker).exists():
                    time.sleep(0.1)
                return
            if wanted == "commit_lost":
                raise duckdb.IOException(
                    f"Connection Error: failpoint commit_lost in {name}: the commit landed, its acknowledgement did not"
                )
            raise FailpointHit(f"failpoint {wanted} hit in batch {name}")
