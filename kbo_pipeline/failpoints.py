"""Failpoints, a testing aid: make chosen batch steps fail at a chosen point, on purpose.

    KBO_FAILPOINTS="activity_insert_0002:before_commit:/tmp/fail-marker,enterprise_*:before_sql"

Each comma-separated entry is `PATTERN:POINT[:MARKER]`: PATTERN is a shell-style pattern matched against
the batch's name (`<table>_<operation>_<NNNN>`, as in the step name); POINT is where it fails:

- `before_sql`: inside the batch's transaction, before its data change;
- `before_commit`: after the data change and the ledger update, just before the commit;
- `kill_before_commit`: as `before_commit`, but the process is killed (SIGKILL) instead of raising.

With MARKER, the failpoint fires only while that file exists, so deleting the file lets a re-execution
succeed. Unset (the default), nothing ever fails on purpose.
"""

import fnmatch
import os
import signal
from pathlib import Path

from .errors import ConfigError

POINTS = ("before_sql", "before_commit", "kill_before_commit")


class FailpointHit(RuntimeError):
    pass


def _entries(spec: str):
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        pattern, _, rest = entry.partition(":")
        point, _, marker = rest.partition(":")
        if point not in POINTS:
            raise ConfigError(f"KBO_FAILPOINTS: unknown point {point!r} in {entry!r} (one of {', '.join(POINTS)})")
        yield pattern, point, marker or None


def hit(point: str, name: str) -> None:
    """Fail here if a failpoint says so; a no-op when KBO_FAILPOINTS is unset."""
    spec = os.environ.get("KBO_FAILPOINTS")
    if not spec:
        return
    for pattern, wanted, marker in _entries(spec):
        if fnmatch.fnmatchcase(name, pattern) and point in (wanted, wanted.removeprefix("kill_")):
            if marker is not None and not Path(marker).exists():
                continue
            if wanted.startswith("kill_"):
                os.kill(os.getpid(), signal.SIGKILL)
            raise FailpointHit(f"failpoint {wanted} hit in batch {name}")
