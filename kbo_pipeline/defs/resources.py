"""Dagster resources: the database (DuckDB file or MotherDuck) and the folders."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource, Definitions, InitResourceContext
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from kbo_pipeline import settings
from kbo_pipeline.core.database import connect, interrupts_raised, open_connection, resolve_database
from kbo_pipeline.core.import_lock import ImportLock
from kbo_pipeline.core.lease import ImportLease, import_exclusion
from kbo_pipeline.core.ledger_state import read_ledger, write_state
from kbo_pipeline.core.motherduck import adopt_token
from kbo_pipeline.core.progress import read_with_retries
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline.defs.run_coordinator import tag_database
from kbo_pipeline.defs.run_monitor import record_worker

# The tag of a job that only reads the database (the freshness check): its runs take no import lock and
# write no ledger state file, so an hourly check never delays an import.
READ_ONLY_TAG = "kbo/read_only"

# A reader elsewhere (kbo status, a query) holds the file for moments: wait that out at connect time
# rather than fail a step (asset checks have no retry policy). Longer holds go to the retry policy.
CONNECT_LOCK_WAIT = 15.0
LEASE_RENEWAL = 30.0


class KboDatabase(DuckDBResource):
    """DuckDBResource whose connections are closed even when the step fails, so a failed step never
    keeps the database file locked. `database` is a path, or `md:<name>` for MotherDuck.

    For the length of a run it holds the database's import lock (one import at a time, whoever
    launched it), and when the run ends it rewrites the ledger state file the sensor reads."""

    # From the environment when the resource is built from run config too: a run config that names
    # only the database (kbo import, the launchpad) would otherwise leave DuckDB without
    # KBO_MEMORY_LIMIT / KBO_THREADS, at its own default of 80 % of the machine's memory.
    connection_config: dict[str, Any] = Field(
        default_factory=settings.duckdb_config,
        description="DuckDB settings (memory_limit, threads); by default from KBO_MEMORY_LIMIT and KBO_THREADS.",
    )
    lock_timeout_seconds: float = Field(
        default_factory=settings.lock_timeout,
        description="How long a run waits for another run's import of the same database (KBO_LOCK_TIMEOUT).",
    )
    hold_seconds: float = Field(
        default_factory=settings.hold_seconds,
        description="How long the run keeps the database open from step to step before it lets readers in "
        "(KBO_HOLD_SECONDS; 0 closes it after every step).",
    )
    _lock: ImportLock | ImportLease | None = PrivateAttr(default=None)
    _held: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _held_since: float = PrivateAttr(default=0.0)
    _renewed: float = PrivateAttr(default=0.0)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if context.run is None or context.run.tags.get(READ_ONLY_TAG):  # a tick, a test, a read-only job
            return
        record_worker(context)
        run_id = context.run.run_id
        tag_database(context.instance, context.run, resolve_database(self.database))
        self._lock = import_exclusion(self.database, self.lock_timeout_seconds)
        log = context.log.warning if context.log else None
        self._lock.acquire(f"dagster run {run_id}", on_wait=log)  # run_monitor.run_holder
        # From now on the state file exists, so no sensor tick opens the database while this run writes it.
        # The first run after an upgrade migrates the database here, and says so (a warning: an operator
        # running `kbo import` on a terminal sees warnings only).
        try:
            for line in self.publish_state():
                if log:
                    log(line)
        except duckdb.Error as exc:  # held elsewhere still: the steps wait or retry; the state file can wait
            if log:
                log(f"ledger state file not written at start: {exc}")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._lock is None:  # set up outside a run: nothing was held
            return
        try:
            self.publish_state()
        except duckdb.Error as exc:  # the run said what failed; a state file not rewritten is read past
            if context.log:
                context.log.warning(f"ledger state file not written at the end: {str(exc).splitlines()[0]}")
        finally:
            self.release()
            if self._lock is not None:
                self._lock.release()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one step. The database stays open from step to step for up to
        `hold_seconds` (the steps run one after another in this process): opening it again for every
        step cost 20-45 ms, started each step with a cold cache (the names and checks of a daily update
        read the same columns again, 0.6 s for the denominations on the full register) and
        checkpointed at every close. Once held that long it is closed at the end of a step, so a
        reader elsewhere (`kbo status`, `kbo audit`) gets in between steps; a failing step closes it
        at once, so nothing stays locked by a failure."""
        if self.hold_seconds <= 0 or self._lock is None:  # outside a run (a sensor, a test) nothing is held
            with connect(self.database, self.connection_config, lock_wait_seconds=CONNECT_LOCK_WAIT) as conn:
                self._renew_lease(conn)
                yield conn
            return
        if self._held is None:
            self._held = open_connection(self.database, self.connection_config, lock_wait_seconds=CONNECT_LOCK_WAIT)
            self._held_since = time.monotonic()
        self._renew_lease(self._held)
        cursor = self._held.cursor()
        try:
            with interrupts_raised():
                yield cursor
        except BaseException:
            cursor.close()
            self.release()
            raise
        cursor.close()
        if time.monotonic() - self._held_since >= self.hold_seconds:
            self.release()

    def _renew_lease(self, conn: duckdb.DuckDBPyConnection) -> None:
        """A MotherDuck lease's heartbeat, at the start of a step (at most every LEASE_RENEWAL seconds):
        the sign of life that keeps another machine from taking it over."""
        if isinstance(self._lock, ImportLease) and time.monotonic() - self._renewed >= LEASE_RENEWAL:
            self._lock.renew(conn)
            self._renewed = time.monotonic()

    def read(self, query):
        """query(conn) for a step that only reads: on the run's connection when this run holds the
        database, else on a read-only one, waiting out an import step that holds the file."""
        if self._lock is not None:
            with self.get_connection() as conn:
                return query(conn)
        return read_with_retries(self.database, query)

    def release(self) -> None:
        """Close the database if this run holds it open (DuckDB checkpoints it then)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def publish_state(self) -> list[str]:
        """Bring the schema up to date and write the ledger state file; what was migrated."""
        with self.get_connection() as conn:
            migrated = create_schema(conn)
            write_state(self.database, read_ledger(conn))
        return migrated


class KboPaths(ConfigurableResource):
    """The folders. The work and export folders belong to a database: empty (the default without
    KBO_WORK_DIR / KBO_EXPORT_DIR) means beside it, whichever database the run's kbo_db names."""

    landing_dir: str = Field(description="Folder where extract ZIPs arrive (KBO_LANDING_DIR).")
    work_dir: str = Field(
        default="",
        description="Folder where an extract's CSVs are unpacked during its import (KBO_WORK_DIR); "
        "empty: <database>.work beside the database.",
    )
    export_dir: str = Field(
        default="",
        description="Folder the Parquet exports are written to (KBO_EXPORT_DIR); empty: <database>.exports "
        "beside the database.",
    )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        record_worker(context)  # the fetch job has no database resource, and it too can die

    def work_for(self, database: str) -> Path:
        return Path(self.work_dir) if self.work_dir else settings.work_dir(database)

    def exports_for(self, database: str) -> Path:
        return Path(self.export_dir) if self.export_dir else settings.export_dir(database)

    def zip_for(self, partition_key: str) -> Path:
        return Path(self.landing_dir) / f"{partition_key}.zip"


def default_resources() -> dict:
    """The resources as the environment configures them (settings.py), bound when the code location loads."""
    return {
        # A token in KBO_DATABASE moves to the environment: never into run config, tags or the UI.
        "kbo_db": KboDatabase(
            database=adopt_token(settings.database_path()), connection_config=settings.duckdb_config()
        ),
        "kbo_paths": KboPaths(
            landing_dir=str(settings.landing_dir()),
            work_dir=settings.configured_work_dir(),
            export_dir=settings.configured_export_dir(),
        ),
    }


# Found by definitions.py's load of the defs folder, like every asset, job and sensor here.
resources = Definitions(resources=default_resources())
