"""The local instance's event log (kbo_pipeline/defs/event_log.py): Dagster's SQLite files, written on
kept connections. What Dagster's own storage reads from them, and what the UI's watcher sees, must not
change."""

import os
import sqlite3
import threading

from dagster import DagsterInstance, DynamicOut, DynamicOutput, in_process_executor, job, op
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import _event_logs_directory

from kbo_pipeline.defs.event_log import KEPT_ENGINES, KboSqliteEventLogStorage

WATCH_TIMEOUT = 60.0  # a bound on a failure only: the test goes on as soon as the events arrive


@op(out=DynamicOut(int))
def fan_out():
    for i in range(3):
        yield DynamicOutput(i, mapping_key=str(i))


@op
def echo(value: int) -> int:
    return value


@job(executor_def=in_process_executor)
def three_steps():
    fan_out().map(echo)


def test_the_instance_kbo_writes_uses_it(dagster_home):
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KboSqliteEventLogStorage)
        run_id = three_steps.execute_in_process(instance=instance).run_id
    # The files are Dagster's: its own storage on the same folder reads the same events.
    stock = SqliteEventLogStorage(_event_logs_directory(str(dagster_home)))
    steps = {e.step_key for e in stock.get_logs_for_run(run_id) if e.dagster_event and e.dagster_event.is_step_success}
    assert steps == {"fan_out", "echo[0]", "echo[1]", "echo[2]"}
    with sqlite3.connect(stock.path_for_shard(run_id)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_connections_are_kept_without_a_flush_per_event_and_bounded(dagster_home):
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run_id = three_steps.execute_in_process(instance=instance).run_id
        kept = storage._engines[run_id]
        storage.store_event(storage.get_logs_for_run(run_id)[-1]._replace(user_message="one more"))
        assert storage._engines[run_id] is kept  # the same engine, not one per event
        with kept.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL: flushed at checkpoints
        for _ in range(KEPT_ENGINES + 2):
            three_steps.execute_in_process(instance=instance)
        assert len(storage._engines) == KEPT_ENGINES and run_id not in storage._engines


def test_a_watcher_in_another_storage_sees_each_event(dagster_home):
    """The UI watches a run's database file from its own process: every write must show there, not only
    the write that a checkpoint happens to follow."""
    with DagsterInstance.get() as instance:
        writer = instance.event_log_storage
        first = three_steps.execute_in_process(instance=instance)
        stored = writer.get_logs_for_run(first.run_id)
        watcher = SqliteEventLogStorage(_event_logs_directory(str(dagster_home)))
        seen, done = [], threading.Event()

        def on_event(entry, _cursor):
            seen.append(entry)
            if len(seen) == len(stored) + 1:
                done.set()

        watcher.watch(first.run_id, None, on_event)
        try:
            # One more event in the run's file, written on the kept connection.
            writer.store_event(stored[-1]._replace(user_message="one more"))
            assert done.wait(WATCH_TIMEOUT), f"the watcher saw {len(seen)} of {len(stored) + 1} events"
        finally:
            watcher.end_watch(first.run_id, on_event)
            watcher.dispose()
    assert seen[-1].user_message == "one more"


def test_wipe_lets_go_of_the_files(dagster_home):
    with DagsterInstance.get() as instance:
        run_id = three_steps.execute_in_process(instance=instance).run_id
        path = instance.event_log_storage.path_for_shard(run_id)
        instance.event_log_storage.wipe()
        assert run_id not in instance.event_log_storage._engines
        assert not os.path.exists(path)
