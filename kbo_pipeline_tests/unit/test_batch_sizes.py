"""Batch sizes tuned from the recorded durations of earlier batches."""

from kbo_pipeline.core.batch_sizes import BOUND, configured_sizes, tuned_sizes
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline.dev import bench


def record_batches(db, table, operation, rows, seconds, count=5, extract_type="update"):
    db.execute(
        "INSERT INTO import_jobs (job_id, extract_number, extract_type, file_name, status) "
        "VALUES (1, 1, $t, 'x.zip', 'completed') ON CONFLICT DO NOTHING",
        {"t": extract_type},
    )
    for n in range(count):
        db.execute(
            "INSERT INTO import_job_batches (job_id, table_name, batch_number, operation, status, records_count, "
            "started_at, completed_at) VALUES (1, $t, $n, $o, 'completed', $r, TIMESTAMP '2025-01-01 00:00:00', "
            "TIMESTAMP '2025-01-01 00:00:00' + to_microseconds(CAST($us AS BIGINT)))",
            {"t": table, "n": n + 1, "o": operation, "r": rows, "us": int(seconds * 1_000_000)},
        )


def test_sizes_follow_the_recorded_pace_within_bounds(db):
    create_schema(db)
    configured = configured_sizes("update")
    record_batches(db, "activity", "insert", 500, 0.1)  # 5,000 rows/s: 10,000 for a 2 s target
    record_batches(db, "address", "delete", 1000, 20.0)  # 50 rows/s: 100, bounded to 1000 / 8
    record_batches(db, "contact", "insert", 1000, 0.0001)  # 10 M rows/s: bounded to 1000 * 8
    record_batches(db, "enterprise", "insert", 2000, 2.0)  # on target: kept
    choices = tuned_sizes(db, "update", configured, frozenset({("branch", "insert")}))
    assert choices[("activity", "insert")].size == 4000 == 500 * BOUND
    assert choices[("address", "delete")].size == 125
    assert "shrunk from 1,000" in choices[("address", "delete")].reason
    assert choices[("contact", "insert")].size == 8000
    assert choices[("enterprise", "insert")].size == 2000 and "kept" in choices[("enterprise", "insert")].reason
    assert choices[("branch", "insert")].reason == "set in config"
    assert (
        choices[("denomination", "delete")].size == 1000 and "no batches" in choices[("denomination", "delete")].reason
    )
    # A Full's sizes learn only from Full loads.
    assert tuned_sizes(db, "full", configured_sizes("full"))[("activity", "insert")].reason.startswith("default")


def test_tuned_sizes_moderate_pace(db):
    create_schema(db)
    record_batches(db, "activity", "insert", 500, 0.5)  # 1,000 rows/s: 2,000 rows for 2 s
    choice = tuned_sizes(db, "update", configured_sizes("update"))[("activity", "insert")]
    assert choice.size == 2000 and choice.reason == "grown from 500: 5 recent batches ran 1,000 rows/s; target 2 s"
    assert (
        tuned_sizes(db, "update", configured_sizes("update"), target_seconds=1.0)[("activity", "insert")].size == 1000
    )


def test_a_huge_update_is_a_bounded_number_of_steps(db, work_dir, tmp_path):
    """The benchmark's generator at a tiny scale: a full load and a huge activity update, through the
    same batch path; the step count stays bounded by the batch sizes."""

    full, csvs = bench.generate_full(tmp_path, 300)
    huge = bench.generate_update(tmp_path, csvs, 141, {"activity": (400, 20000)}, 3)
    import_extract(db, full, work_dir)
    result = import_extract(db, huge, work_dir)
    activity = [r for r in result.batches if r.batch.table == "activity"]
    assert sum(r.rows_affected for r in activity if r.batch.operation == "insert") == 20000
    # 20,000 rows at the default 500 would be 40 steps; raised to 800 rows, they are 25.
    assert [r.batch.records_count for r in activity if r.batch.operation == "insert"] == [800] * 25
    assert len([r for r in activity if r.batch.operation == "delete"]) == 1
