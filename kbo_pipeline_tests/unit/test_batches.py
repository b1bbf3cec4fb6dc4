"""Batch planning and applying: sizes, order independence, idempotency, one transaction per batch."""

import pytest

from kbo_pipeline.core.batch_sizes import configured_sizes, plan_batch_sizes
from kbo_pipeline.core.batches import apply_batch, mark_failed
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import FULL_BATCH_SIZE, TABLES, UPDATE_BATCH_SIZES
from kbo_pipeline.core.extract import ExtractError
from kbo_pipeline.core.finalize import resolve_names
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.ledger import BatchStatus
from kbo_pipeline.core.primary_names import mark_touched, resolve_touched
from kbo_pipeline.errors import ConfigError
from kbo_pipeline_tests.support.files import rewritten
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.tables import staged_batches, table_checksums

SMALL_SIZES = {
    "enterprise": 3,
    "establishment": 4,
    "denomination": 5,
    "address": 6,
    "contact": 7,
    "activity": 8,
    "branch": 1,
}


def test_default_sizes_follow_the_design_and_full_loads_get_their_own():
    update = configured_sizes("update")
    assert update[("activity", "insert")] == 500 and update[("enterprise", "delete")] == 2000
    assert all(update[(t, "insert")] == UPDATE_BATCH_SIZES[t] for t in TABLES)
    assert all(size == FULL_BATCH_SIZE for size in configured_sizes("full").values())
    # 36.3 M activity rows must not become tens of thousands of steps.
    assert 36_300_000 / configured_sizes("full")[("activity", "insert")] < 50


def test_size_overrides_per_table_and_operation():
    sizes = configured_sizes("update", {"activity": 100, "activity_delete": 40})
    assert sizes[("activity", "insert")] == 100 and sizes[("activity", "delete")] == 40
    with pytest.raises(ConfigError, match="unknown batch size keys: activty"):
        configured_sizes("update", {"activty": 1})
    with pytest.raises(ConfigError, match="at least 1"):
        configured_sizes("update", {"branch": 0})


def test_a_small_extract_is_one_batch_per_table_and_operation():
    sizes = configured_sizes("update")
    small = plan_batch_sizes({("activity", "insert"): 4000, ("address", "delete"): 999}, sizes)
    assert small == {("activity", "insert"): 4000, ("address", "delete"): 999}
    large = plan_batch_sizes({("activity", "insert"): 4000, ("address", "delete"): 1000}, sizes)
    assert large == {("activity", "insert"): 500, ("address", "delete"): 1000}
    huge = plan_batch_sizes({("activity", "insert"): 6_300_000, ("activity", "delete"): 700_000}, sizes)
    assert huge == {("activity", "insert"): 252_000, ("activity", "delete"): 28_000}  # 25 batches each
    explicit = plan_batch_sizes(
        {("activity", "insert"): 40}, {("activity", "insert"): 8}, frozenset({("activity", "insert")})
    )
    assert explicit == {("activity", "insert"): 8}


def test_many_small_batches_give_the_same_state_as_the_replay(db, work_dir, samples):
    full = import_extract(db, samples[0], work_dir, SMALL_SIZES)
    assert full.batches == ()  # a Full into an empty database is read straight into its tables
    for path in samples[1:3]:
        result = import_extract(db, path, work_dir, SMALL_SIZES)
        assert len(result.batches) > 20
    keys = [r.batch.mapping_key for r in result.batches]
    assert "activity_insert_0001" in keys and "enterprise_delete_0001" in keys
    assert_equals_replay(db, samples[:3])


def test_batches_applied_in_any_order_give_deletes_before_inserts(db, work_dir, samples):
    """Inserts first, deletes last: a delete must never retire a row its own extract inserted."""
    for path in samples[:3]:
        _, batches = staged_batches(db, path, work_dir, SMALL_SIZES)
        for batch in reversed(batches):
            apply_batch(db, batch)
        import_extract(db, path, work_dir)  # resumes: finalizes
    assert_equals_replay(db, samples[:3])


def test_running_a_batch_again_changes_nothing(db, work_dir, samples):
    import_extract(db, samples[0], work_dir)
    _, batches = staged_batches(db, samples[1], work_dir, SMALL_SIZES)
    for batch in batches:
        assert not apply_batch(db, batch).skipped
    before = table_checksums(db)
    for batch in batches:
        assert apply_batch(db, batch).skipped
    assert table_checksums(db) == before
    # The raw delete SQL, run again outside the ledger, matches nothing more either.
    for batch in batches:
        if batch.operation == "delete":
            db.execute(
                "UPDATE import_job_batches SET status = 'pending' WHERE job_id = $j AND table_name = $t "
                "AND batch_number = $b AND operation = 'delete'",
                {"j": batch.job_id, "t": batch.table, "b": batch.batch_number},
            )
            assert apply_batch(db, batch).rows_affected == 0
    assert table_checksums(db) == before


class FailBefore:
    """A connection whose statement matching `marker` fails: the batch's transaction must roll back."""

    def __init__(self, conn, marker: str):
        self.conn, self.marker = conn, marker

    def execute(self, sql, *args):
        if self.marker in sql:
            raise RuntimeError("injected failure")
        return self.conn.execute(sql, *args)


def test_a_batch_that_fails_before_its_commit_leaves_no_trace(db, work_dir, samples):
    import_extract(db, samples[0], work_dir)
    job_id, batches = staged_batches(db, samples[1], work_dir, SMALL_SIZES)
    batch = next(b for b in batches if b.table == "activity" and b.operation == "insert")
    before = table_checksums(db)
    # The data change succeeds, then the ledger update fails: both must roll back together.
    with pytest.raises(RuntimeError, match="injected"):
        apply_batch(FailBefore(db, "status = $completed"), batch)
    assert table_checksums(db) == before
    status, error = db.execute(
        "SELECT status, error_message FROM import_job_batches WHERE job_id = $j AND table_name = 'activity' "
        "AND operation = 'insert' AND batch_number = $b",
        {"j": job_id, "b": batch.batch_number},
    ).fetchone()
    assert status == "failed" and "injected failure" in error
    assert not apply_batch(db, batch).skipped


def test_a_completed_batch_is_never_marked_failed(db, work_dir, samples):
    """The ledger's rule (core/ledger.py): a batch whose commit landed stays completed, even when the
    client then sees an error and reports the batch failed (or interrupted)."""
    import_extract(db, samples[0], work_dir)
    _, batches = staged_batches(db, samples[1], work_dir, {t: 3 for t in TABLES})
    apply_batch(db, batches[0])
    mark_failed(db, batches[0], "IOException: Connection Error: the acknowledgement was lost")
    mark_failed(db, batches[0], "interrupted: the run was stopped", status=BatchStatus.PENDING)
    status, error = db.execute(
        "SELECT status, error_message FROM import_job_batches WHERE job_id = $j AND table_name = $t "
        "AND batch_number = $n AND operation = $o",
        {"j": batches[0].job_id, "t": batches[0].table, "n": batches[0].batch_number, "o": batches[0].operation},
    ).fetchone()
    assert (status, error) == ("completed", None)
    assert apply_batch(db, batches[0]).skipped  # and running it again applies nothing


def test_a_full_into_an_empty_database_is_read_straight_into_its_tables(db, work_dir, samples, tmp_path):
    """No staging copy and no batch step: when staging commits, each table holds the Full's rows and
    the ledger one completed batch per table with their count; a bad file anywhere leaves it all empty."""
    job_id, batches = staged_batches(db, samples[0], work_dir)
    assert batches == []
    ledger = db.execute(
        "SELECT table_name, count(*), min(status), sum(records_count), sum(rows_affected) FROM import_job_batches "
        "WHERE job_id = $j GROUP BY ALL ORDER BY ALL",
        {"j": job_id},
    ).fetchall()
    assert [row[0] for row in ledger] == sorted(TABLES)
    for table, count, status, staged, applied in ledger:
        rows = db.execute(f"SELECT count(*) FROM {table} WHERE _extract_number = 140 AND _is_current").fetchone()[0]
        assert (count, status, staged, applied) == (1, BatchStatus.COMPLETED, rows, rows), table
        assert db.execute(f"SELECT count(*) FROM import_staging_{table}").fetchone()[0] == 0

    # The enterprises came in with their primary names: the names step finds them resolved (it returns
    # the job's count, every enterprise, without computing them again), and resolving them again as an
    # Update's names step does changes no row.
    enterprises = db.execute("SELECT count(*) FROM enterprise").fetchone()[0]
    assert (
        db.execute("SELECT names_resolved FROM import_jobs WHERE job_id = $j", {"j": job_id}).fetchone()[0]
        == enterprises
    )
    assert resolve_names(db, job_id) == enterprises
    mark_touched(db, 140)
    assert resolve_touched(db) == 0

    # The same Full with a short last line in activity, its last file: the whole staging rolls back.
    def bad_last_line(name, data):
        if name != "activity.csv":
            return name, data
        return name, data.rstrip(b"\r\n") + b'\r\n"0200.065.765","001"\r\n'

    bad = rewritten(tmp_path / "bad", bad_last_line, samples[0])
    with connect(str(tmp_path / "other.duckdb")) as other:
        with pytest.raises(ExtractError, match=r"activity\.csv"):
            staged_batches(other, bad, work_dir)
        assert all(other.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0 for t in TABLES)
        assert other.execute("SELECT count(*) FROM import_job_batches").fetchone()[0] == 0
