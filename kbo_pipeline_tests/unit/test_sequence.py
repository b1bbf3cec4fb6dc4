"""Which extract may follow which, read from the database's own ledger; resume and replace."""

import zipfile

import pytest

from kbo_pipeline.core.batches import apply_batch
from kbo_pipeline.core.entities import TABLES
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.jobs import OutOfSequence
from kbo_pipeline_tests.support.files import EXTRACT_147
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.tables import staged_batches, table_checksums


def test_a_gap_is_refused_naming_the_missing_extract(db, work_dir, samples):
    import_extract(db, samples[0], work_dir)
    before = table_checksums(db)
    with pytest.raises(OutOfSequence, match="out of sequence: extract 141 is missing") as refused:
        import_extract(db, samples[2], work_dir)
    assert (refused.value.extract_number, refused.value.waits_for, refused.value.file) == (142, 141, samples[2].name)
    assert table_checksums(db) == before
    status, error = db.execute("SELECT status, error_message FROM import_jobs WHERE extract_number = 142").fetchone()
    assert status == "failed" and "141 is missing" in error
    # Once 141 is there, 142 follows.
    import_extract(db, samples[1], work_dir)
    assert import_extract(db, samples[2], work_dir).final.already_completed is False


def test_the_first_extract_may_be_an_update(db, work_dir):
    assert import_extract(db, EXTRACT_147, work_dir).start.action == "new"


def test_an_applied_or_older_extract_changes_nothing_and_says_so(db, work_dir, samples):
    for path in samples[:3]:
        import_extract(db, path, work_dir)
    before = table_checksums(db)
    again = import_extract(db, samples[2], work_dir)
    assert again.start.action == "already_applied" and "already applied" in again.start.message
    older = import_extract(db, samples[1], work_dir)
    assert older.start.action == "already_applied"
    assert table_checksums(db) == before
    assert db.execute("SELECT count(*) FROM import_jobs").fetchone()[0] == 3


def test_an_unfinished_import_is_resumed_with_the_same_file(db, work_dir, samples):
    import_extract(db, samples[0], work_dir)
    job_id, batches = staged_batches(db, samples[1], work_dir, {t: 2 for t in TABLES})
    for batch in batches[: len(batches) // 2]:
        apply_batch(db, batch)
    resumed = import_extract(db, samples[1], work_dir)
    assert resumed.start.action == "resume" and resumed.start.job_id == job_id
    assert len(resumed.batches) == len(batches) - len(batches) // 2
    assert_equals_replay(db, samples[:2])


def test_an_unfinished_import_blocks_the_next_extract(db, work_dir, samples):
    import_extract(db, samples[0], work_dir)
    staged_batches(db, samples[1], work_dir)
    with pytest.raises(OutOfSequence, match="extract 141 is not finished") as refused:
        import_extract(db, samples[2], work_dir)
    assert refused.value.waits_for == 141


def test_a_different_file_for_a_failed_extract_replaces_the_attempt(db, work_dir, samples, tmp_path):
    import_extract(db, samples[0], work_dir)
    job_id, batches = staged_batches(db, samples[1], work_dir, {t: 2 for t in TABLES})
    for batch in batches[:5]:
        apply_batch(db, batch)
    # The same content in other bytes (another compression level): a different file.
    other = tmp_path / "other" / samples[1].name
    other.parent.mkdir()
    with zipfile.ZipFile(samples[1]) as src, zipfile.ZipFile(other, "w", zipfile.ZIP_STORED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    replaced = import_extract(db, other, work_dir)
    assert replaced.start.action == "replace" and replaced.start.job_id == job_id
    assert_equals_replay(db, samples[:2])
