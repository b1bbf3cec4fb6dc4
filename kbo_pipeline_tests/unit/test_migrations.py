"""An upgrade keeps the data: a database made by an earlier release opens, migrates and goes on; one
made by a newer release is refused."""

import gzip
import shutil

import duckdb
import pytest

from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import ENTITY_BY_TABLE
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.migrations import SCHEMA_VERSION, SchemaTooNew, schema_version
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline_tests.support.files import ROOT
from kbo_pipeline_tests.support.replay import assert_equals_replay

# Made by the release before versioned migrations (commit ad0becd, with the DuckDB installed now): the
# session's generated Full 140 (write_samples, seed 7) applied. Gzipped: 48 KB instead of 4.4 MB.
PREVIOUS_RELEASE = ROOT / "kbo_pipeline_tests" / "fixtures" / "kbo-release-ad0becd-extract-140.duckdb.gz"
# A file written by DuckDB 2.0 does not open in an older client (the MotherDuck install, 1.5): its
# storage is newer. A MotherDuck database is made in the cloud, never from such a file.
OLDER_CLIENT = int(duckdb.__version__.split(".")[0]) < 2
needs_the_default_client = pytest.mark.skipif(OLDER_CLIENT, reason="the fixture's storage needs DuckDB 2.0")


@pytest.fixture
def previous_release_db(tmp_path) -> str:
    if OLDER_CLIENT:
        pytest.skip("the fixture's storage needs DuckDB 2.0")
    path = tmp_path / "kbo.duckdb"
    with gzip.open(PREVIOUS_RELEASE) as packed, open(path, "wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    return str(path)


def test_a_database_of_the_release_before_versioning_migrates_and_goes_on(previous_release_db, samples, work_dir):
    with connect(previous_release_db) as conn:
        assert schema_version(conn) == 0
        database_id = conn.execute("SELECT database_id FROM import_database").fetchone()[0]
        ledger = conn.execute("SELECT job_id, extract_number, status, file_sha256 FROM import_jobs").fetchall()
        migrated = create_schema(conn)
        assert migrated and migrated[0].startswith(f"schema migrated to version {SCHEMA_VERSION}")
        assert schema_version(conn) == SCHEMA_VERSION and create_schema(conn) == []
        # Every table, its history and the ledger survive; the next extract applies.
        assert conn.execute("SELECT database_id FROM import_database").fetchone()[0] == database_id
        assert conn.execute("SELECT job_id, extract_number, status, file_sha256 FROM import_jobs").fetchall() == ledger
        assert_equals_replay(conn, samples[:1])
        assert import_extract(conn, samples[1], work_dir).final is not None
        assert_equals_replay(conn, samples[:2])


def test_a_column_added_to_the_spec_is_added_to_existing_tables_and_back_filled(db, work_dir, samples):
    """What CREATE TABLE IF NOT EXISTS never did: a table made before a column of the spec gains it."""
    import_extract(db, samples[0], work_dir)
    rows = db.execute("SELECT count(*) FROM activity").fetchone()[0]
    # The table as a release without the derived `id` column made it.
    db.execute("ALTER TABLE activity DROP COLUMN id")
    db.execute("DELETE FROM import_schema_version")
    migrated = create_schema(db)
    assert "activity.id added" in migrated[0]
    derived = next(c.expression for c in ENTITY_BY_TABLE["activity"].columns if c.name == "id")
    assert db.execute(
        f"SELECT count(*), count(*) FILTER (WHERE id IS DISTINCT FROM {derived}) FROM activity"
    ).fetchone() == (
        rows,
        0,
    )
    import_extract(db, samples[1], work_dir)
    assert_equals_replay(db, samples[:2])


def test_a_database_migrated_by_a_newer_release_is_refused(db):
    create_schema(db)
    db.execute("INSERT INTO import_schema_version VALUES (99, current_timestamp)")
    db.execute("DELETE FROM import_schema")  # as a newer release's DDL would differ
    with pytest.raises(SchemaTooNew, match=f"version 99, newer than this kbo's \\({SCHEMA_VERSION}\\)"):
        create_schema(db)
