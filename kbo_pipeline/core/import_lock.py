"""One import at a time per database, whoever starts it (sensor, UI, command line): an exclusive
advisory lock on a file beside the database, held by a run for its whole length.

DuckDB's own file lock is not enough: each step opens and closes its connection, so two runs could
interleave their steps. The lock is per machine (MotherDuck databases get a lock file under the work
folder), which is where Dagster's default run launcher runs them.
"""

import fcntl
import json
import os
import re
import time
from pathlib import Path

from kbo_pipeline import settings
from kbo_pipeline.core.motherduck import is_motherduck, name_of
from kbo_pipeline.errors import ConfigError, ResourceError, TransientError


def open_lock_file(path: Path):
    """The lock file, opened for reading and writing, never through a symbolic link: the lock truncates
    what it opens, and a link would make it truncate the file it points to."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise ConfigError(f"{path} is a symbolic link: the import lock refuses it (remove it)") from None
        raise ResourceError(f"cannot open the import lock {path}: {exc}") from exc
    return os.fdopen(fd, "r+")


class ImportLocked(TransientError):
    """Another import of the same database held the lock for the whole wait."""


def sidecar(database: str, suffix: str) -> Path:
    """A file that belongs to a database: beside a local file, under the work folder for MotherDuck."""
    if is_motherduck(database):
        folder = Path(settings.configured_work_dir() or settings.DEFAULT_WORK_DIR).resolve()
        return folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", name_of(database)) + suffix)
    return Path(database + suffix)


def _probe(database: str) -> tuple[bool, str]:
    """(held, content) of the database's import lock: whether a process holds it now, and what the
    file says when it is free (a release empties it; a holder that died leaves its name)."""
    path = sidecar(database, ".import.lock")
    if not path.exists():
        return False, ""
    try:
        handle = open_lock_file(path)
    except (OSError, ConfigError, ResourceError):
        return False, ""
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, ""
        try:
            return False, handle.read()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_held(database: str) -> bool:
    """Whether a process holds the database's import lock now (a run is importing or rolling back)."""
    return _probe(database)[0]


def left_by(database: str, holder: str) -> bool:
    """Whether the import lock of the database was left by `holder` without being released: free (its
    holder's process is gone: the kernel released it) and still naming that holder. True proves the
    holder died while it held the lock, wherever it ran on this machine's files."""
    held, content = _probe(database)
    if held:
        return False
    try:
        return json.loads(content).get("holder") == holder
    except (ValueError, AttributeError):
        return False


class ImportLock:
    def __init__(self, database: str, timeout: float | None = None):
        self.path = sidecar(database, ".import.lock")
        self.timeout = settings.lock_timeout() if timeout is None else timeout
        self._file = None

    def acquire(self, holder: str, on_wait=None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open_lock_file(self.path)
        deadline = time.monotonic() + self.timeout
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                other = handle.read().strip() or "another process"
                if time.monotonic() >= deadline:
                    handle.close()
                    raise ImportLocked(
                        f"another import holds {self.path} ({other}); waited {self.timeout:.0f} s (KBO_LOCK_TIMEOUT)"
                    ) from None
                if on_wait and not told:
                    on_wait(f"waiting for the import lock {self.path}, held by {other}")
                    told = True
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "holder": holder}))
        handle.flush()
        self._file = handle

    def wait_until_free(self, on_wait=None) -> None:
        """Wait (up to the timeout) until no other process holds the lock, without keeping it: a command
        that is about to launch a run says it waits, and refuses plainly when the wait runs out,
        instead of the run failing in its resources with a traceback."""
        self.acquire("a kbo command checking the lock", on_wait)
        self.release()

    def release(self) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
