"""Rows retired or renamed by an extract: a few are moved to the table's end, many updated in place,
with the same rows in the table either way (core/row_changes.py)."""

from contextlib import contextmanager

import pytest

from kbo_pipeline.core import row_changes
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.tables import table_checksums

UPDATE = 141


def _positions(conn, table: str) -> dict[str, list[int]]:
    """Rowids of the rows the update retired, of the current rows it renamed (enterprise), and of the
    rows it left alone."""
    renamed = conn.execute(
        "SELECT e.rowid FROM enterprise e JOIN import_name_changes n USING (entity_number) "
        "WHERE n.extract_number = $k AND e._is_current",
        {"k": UPDATE},
    ).fetchall()
    renamed = [r for (r,) in renamed] if table == "enterprise" else []
    rows = conn.execute(f"SELECT rowid, _deleted_at_extract, _extract_number FROM {table}").fetchall()
    return {
        "retired": [r for r, deleted, _ in rows if deleted == UPDATE],
        "renamed": renamed,
        "untouched": [r for r, deleted, added in rows if deleted is None and added < UPDATE and r not in renamed],
    }


@contextmanager
def _imported(database, samples, work_dir):
    """The sample Full and its first update, imported."""
    with connect(str(database)) as conn:
        for path in samples[:2]:
            import_extract(conn, path, work_dir)
        yield conn


def test_a_daily_updates_retired_and_renamed_rows_move_to_the_tables_end(tmp_path, work_dir, samples):
    with _imported(tmp_path / "moved.duckdb", samples, work_dir) as conn:
        for entity in ENTITIES:
            positions = _positions(conn, entity.table)
            assert positions["retired"], entity.table
            # Beside the rows the update inserted, where the row groups' min/max finds them.
            assert min(positions["retired"]) > max(positions["untouched"], default=-1), entity.table
        renamed = _positions(conn, "enterprise")["renamed"]
        assert renamed and min(renamed) > max(_positions(conn, "enterprise")["untouched"])
        assert_equals_replay(conn, samples[:2])


def test_many_rows_are_updated_in_place_with_the_same_result(tmp_path, work_dir, samples, monkeypatch):
    with _imported(tmp_path / "moved.duckdb", samples, work_dir) as conn:
        moved = table_checksums(conn)
    monkeypatch.setattr(row_changes, "MOVE_AT_MOST", 0)
    with _imported(tmp_path / "in_place.duckdb", samples, work_dir) as conn:
        assert table_checksums(conn) == moved
        activity = _positions(conn, "activity")
        assert min(activity["retired"]) < max(activity["untouched"])  # left where they were
        renamed = _positions(conn, "enterprise")["renamed"]
        assert renamed and min(renamed) < max(_positions(conn, "enterprise")["untouched"])
        assert_equals_replay(conn, samples[:2])


@pytest.mark.parametrize("move_at_most", [row_changes.MOVE_AT_MOST, 0])
def test_changed_rows_keep_their_order_and_every_other_column(db, move_at_most, monkeypatch):
    monkeypatch.setattr(row_changes, "MOVE_AT_MOST", move_at_most)
    activity = next(e for e in ENTITIES if e.table == "activity")
    db.execute(
        "CREATE TABLE activity AS SELECT 'e' || (i % 50) AS entity_number, 'g' || i AS activity_group, "
        "'2008' AS nace_version, lpad(i::VARCHAR, 5, '0') AS nace_code, 'MAIN' AS classification, "
        "DATE '2025-10-01' AS _snapshot_date, 140 AS _extract_number, true AS _is_current, "
        "NULL::INTEGER AS _deleted_at_extract FROM range(1000) t(i)"
    )
    before = db.execute("SELECT * FROM activity WHERE entity_number IN ('e3', 'e7') ORDER BY rowid").fetchall()
    changed = row_changes.change_rows(
        db,
        activity,
        "SELECT rowid AS changed_row, false AS _is_current, $k AS _deleted_at_extract FROM activity "
        "WHERE entity_number IN ('e3', 'e7')",
        {"k": UPDATE},
        ("_is_current", "_deleted_at_extract"),
    )
    assert changed == 40
    after = db.execute(
        "SELECT * EXCLUDE (_is_current, _deleted_at_extract), _is_current, _deleted_at_extract FROM activity "
        "WHERE entity_number IN ('e3', 'e7') ORDER BY rowid"
    ).fetchall()
    assert after == [(*row[:-2], False, UPDATE) for row in before]
    assert db.execute("SELECT count(*), count(*) FILTER (WHERE _is_current) FROM activity").fetchone() == (1000, 960)
    assert not db.execute("SELECT * FROM duckdb_tables() WHERE table_name = 'changed_rows'").fetchall()
