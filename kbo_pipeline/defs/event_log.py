"""The event log of kbo's local Dagster instance: Dagster's SQLite event log, its connections kept.

Dagster's `SqliteEventLogStorage` opens a SQLAlchemy engine and a SQLite connection for every event it
stores (two for an asset event: the run's database and the index) and closes them again; each close
checkpoints the database's write-ahead log, and each commit waits for the disk. Measured here, that is
about two thirds of what an empty step costs (31 ms of Dagster per step, 13 ms with the connections
kept, 10 ms without a disk flush per event); a daily update runs some 25 steps and stores about 200
events. This storage keeps one engine per database for the few databases a process writes, and lets
SQLite flush its write-ahead log at checkpoints rather than at every commit (`synchronous=NORMAL`,
which keeps the database consistent after a crash; a power cut may lose the last events, never the
import's data, which DuckDB's ledger holds).

Readers in other processes (the UI) learn of new events by watching the run's database file change,
which a checkpoint on close used to do; the file's modification time is touched after every write
instead.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import _event_logs_directory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

KEPT_ENGINES = 4  # the index and the runs this process writes; the UI reading many runs evicts the oldest


def _write_ahead(dbapi_connection, _record) -> None:
    """Per connection: the write-ahead log (Dagster's journal mode for every event database), flushed
    to disk at checkpoints only. Left at SQLite's default if the journal mode cannot be set."""
    mode = dbapi_connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class KboSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with its engines kept (at most KEPT_ENGINES databases) and no disk flush
    per event. Same files, same schema: an instance can switch to or from it at any time."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls):
        # The instance's folder, as `storage: sqlite: base_dir` takes it: the event logs go where
        # Dagster's default storage keeps them (history/runs), so switching loses no run's events.
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> KboSqliteEventLogStorage:
        return cls(_event_logs_directory(config_value["dagster_home"]), inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            create_db_conn_string(self._base_dir, shard),
            pool_size=1,  # kept; Dagster's schema check at first use takes a second one for a moment
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _write_ahead)
        self._engines[shard] = engine
        while len(self._engines) > KEPT_ENGINES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Under the storage's lock, as Dagster's: one transaction at a time on this storage.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn
            if shard != INDEX_SHARD_NAME:
                self._signal_watchers(shard)

    def _signal_watchers(self, shard: str) -> None:
        """Touch the run's database file: the UI's watcher (watchdog on the file) then reads the new events."""
        try:
            os.utime(self.path_for_shard(shard))
        except FileNotFoundError:
            pass

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # the files go: no connection may keep them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()
