"""One importer at a time across machines: the import lease, a row in the database itself.

For a local file the import lock is a file lock beside it (core/import_lock.py): every process that can
write the file can see the lock. A MotherDuck database is shared by machines that share no folder, so
the right to import is a row in it (sql/lease.sql): holder (run or command, its process), since, heartbeat,
taken and released in short transactions of their own. A holder known dead (same host, its process gone)
or silent past KBO_LEASE_SECONDS is taken over, and the takeover is said, naming it.
"""

from __future__ import annotations

import os
import time

import duckdb

from kbo_pipeline import settings
from kbo_pipeline.core import import_lock, ledger
from kbo_pipeline.core.database import connect, is_lock_conflict, is_transient, transaction
from kbo_pipeline.core.import_lock import ImportLock, ImportLocked
from kbo_pipeline.core.motherduck import is_motherduck
from kbo_pipeline.core.run_worker import is_alive, this_process

# A connection that meets the holder's run mid-step waits this long (the test seam's file is locked then).
CONNECT_WAIT = 15.0


def _describe(row: ledger.LeaseHolder) -> str:
    return f"{row.holder} (host {row.worker.get('host')}, pid {row.worker.get('pid')}, since {row.since:%Y-%m-%d %H:%M:%S})"


def why_replaceable(row: ledger.LeaseHolder, ttl: float) -> str | None:
    """Why a holder may be taken over (None: it is alive, as far as anyone can tell). Its process is judged
    as the run monitor judges a run's worker (run_worker.is_alive: a reused pid or a reboot is not it)."""
    if is_alive(row.worker) is False:
        return "its process is gone"
    if row.silent_seconds > ttl:
        return f"silent for {row.silent_seconds:.0f} s (KBO_LEASE_SECONDS={ttl:.0f})"
    return None


def current_holder(database: str) -> ledger.LeaseHolder | None:
    with connect(database, lock_wait_seconds=CONNECT_WAIT) as conn:
        return ledger.lease_holder(conn)


def is_held(database: str) -> bool:
    """Whether a live holder has the lease now."""
    row = current_holder(database)
    return row is not None and why_replaceable(row, settings.lease_seconds()) is None


def left_by(database: str, holder: str) -> bool:
    """Whether `holder` still has the lease while it is known dead (its process gone)."""
    row = current_holder(database)
    return row is not None and row.holder == holder and is_alive(row.worker) is False


class ImportLease:
    """The lease, with the interface of core/import_lock.ImportLock."""

    def __init__(self, database: str, timeout: float | None = None, ttl: float | None = None):
        self.database = database
        self.timeout = settings.lock_timeout() if timeout is None else timeout
        self.ttl = settings.lease_seconds() if ttl is None else ttl
        self.holder: str | None = None

    def _try_take(self, holder: str) -> tuple[bool, str]:
        """(taken, what to say): one short transaction on a connection of its own, closed at once so
        that the holder's run can open the database between two steps (the local file of the test seam)."""
        with connect(self.database, lock_wait_seconds=CONNECT_WAIT) as conn, transaction(conn):
            row = ledger.lease_holder(conn)
            said = ""
            if row is not None and row.holder != holder:
                why = why_replaceable(row, self.ttl)
                if why is None:
                    return False, _describe(row)
                said = f"took over the import lease of {self.database} from {_describe(row)}: {why}"
            ledger.take_lease(conn, holder, this_process())
            return True, said

    def acquire(self, holder: str, on_wait=None) -> None:
        deadline = time.monotonic() + self.timeout
        told = False
        while True:
            try:
                taken, said = self._try_take(holder)
            except (duckdb.TransactionException, duckdb.ConstraintException):  # two takers at once: one fails
                taken, said = False, "another process, at this very moment"
            except duckdb.Error as exc:
                if not (is_transient(exc) or is_lock_conflict(exc)):
                    raise
                taken, said = False, "another process (the database is busy)"
            if taken:
                self.holder = holder
                if said and on_wait:
                    on_wait(said)
                return
            if time.monotonic() >= deadline:
                raise ImportLocked(
                    f"another import holds the import lease of {self.database}: {said}; "
                    f"waited {self.timeout:.0f} s (KBO_LOCK_TIMEOUT)"
                )
            if on_wait and not told:
                on_wait(f"waiting for the import lease of {self.database}, held by {said}")
                told = True
            time.sleep(0.5)

    def wait_until_free(self, on_wait=None) -> None:
        self.acquire(f"kbo command (pid {os.getpid()}) checking the lease", on_wait)
        self.release()

    def renew(self, conn: duckdb.DuckDBPyConnection) -> None:
        if self.holder is not None:
            ledger.renew_lease(conn, self.holder)

    def release(self) -> None:
        if self.holder is None:
            return
        holder, self.holder = self.holder, None
        with connect(self.database, lock_wait_seconds=CONNECT_WAIT) as conn:
            ledger.release_lease(conn, holder)


# What the rest of the project uses: the lease for MotherDuck, the file lock for a local file.


def import_exclusion(database: str, timeout: float | None = None) -> ImportLock | ImportLease:
    return ImportLease(database, timeout) if is_motherduck(database) else ImportLock(database, timeout)


def is_importing(database: str) -> bool:
    """Whether a process holds the database's lock or lease now (a run is importing or rolling back)."""
    return is_held(database) if is_motherduck(database) else import_lock.is_held(database)


def holder_left(database: str, holder: str) -> bool:
    """Whether `holder` died while it held the database's lock or lease."""
    return left_by(database, holder) if is_motherduck(database) else import_lock.left_by(database, holder)
