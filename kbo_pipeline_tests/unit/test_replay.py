"""A generated Full followed by Updates: current state, history and every as-of-K state equal the
independent replay."""

from kbo_pipeline.core.entities import ENTITY_BY_TABLE, TABLES
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline_tests.support.replay import AS_OF, HISTORY, Replay, database_rows


def test_full_then_updates_equal_the_replay_at_every_extract(db, work_dir, samples):
    replay = Replay()
    applied = []
    for path in samples:
        import_extract(db, path, work_dir)
        applied.append(replay.apply(path))
        for table in TABLES:
            assert database_rows(db, table) == replay.rows(table), (table, applied[-1])
    for k in applied:
        for table in TABLES:
            assert database_rows(db, table, AS_OF, {"k": k}) == replay.rows(table, as_of=k), (table, k)
    for table in TABLES:
        assert database_rows(db, table, "_is_current") == replay.rows(table, current_only=True)


def test_the_samples_exercise_every_kind_of_change(db, work_dir, samples):
    for path in samples:
        import_extract(db, path, work_dir)
    retired = dict(
        db.execute(
            "SELECT 'enterprise', count(*) FROM enterprise WHERE NOT _is_current UNION ALL "
            "SELECT 'branch', count(*) FROM branch WHERE NOT _is_current UNION ALL "
            "SELECT 'establishment', count(*) FROM establishment WHERE NOT _is_current UNION ALL "
            "SELECT 'denomination', count(*) FROM denomination WHERE NOT _is_current"
        ).fetchall()
    )
    assert all(count > 0 for count in retired.values()), retired
    # An enterprise whose only change was its denominations carries the new name.
    renamed = db.execute(
        "SELECT count(*) FROM enterprise e WHERE e._is_current AND e._extract_number = 140 AND EXISTS ("
        "SELECT 1 FROM denomination d WHERE d.entity_number = e.entity_number AND d._extract_number > 140 "
        "AND d.type_of_denomination = '001' AND d._is_current AND d.denomination = e.primary_name)"
    ).fetchone()[0]
    assert renamed > 0
    # Names with commas, quotes and apostrophes survive as text; an injection attempt is only a name.
    assert (
        db.execute("SELECT count(*) FROM denomination WHERE denomination LIKE '%DROP TABLE enterprise%'").fetchone()[0]
        > 0
    )
    assert db.execute("SELECT count(*) FROM denomination WHERE denomination LIKE '%\"Le Coq\"%'").fetchone()[0] > 0


def test_history_views_and_macros(db, work_dir, samples):
    replay = Replay()
    for path in samples[:4]:
        import_extract(db, path, work_dir)
        replay.apply(path)
    for table in TABLES:
        columns = ", ".join([c.name for c in ENTITY_BY_TABLE[table].table_columns] + list(HISTORY))
        assert sorted(db.execute(f"SELECT {columns} FROM current_{table}").fetchall(), key=repr) == replay.rows(
            table, current_only=True
        )
        for k in (140, 142, 143):
            as_of = sorted(db.execute(f"SELECT {columns} FROM {table}_as_of($k)", {"k": k}).fetchall(), key=repr)
            assert as_of == replay.rows(table, as_of=k), (table, k)
    # An enterprise whose name changed: its history lists both denominations, with when.
    number = db.execute(
        "SELECT entity_number FROM denomination WHERE _deleted_at_extract IS NOT NULL AND entity_number IN "
        "(SELECT entity_number FROM enterprise) LIMIT 1"
    ).fetchone()[0]
    history = db.execute("SELECT table_name, added_in, removed_in FROM entity_history($n)", {"n": number}).fetchall()
    expected = db.execute(
        "SELECT 'denomination', _extract_number, _deleted_at_extract FROM denomination WHERE entity_number = $n "
        "UNION ALL SELECT 'enterprise', _extract_number, _deleted_at_extract FROM enterprise WHERE entity_number = $n "
        "UNION ALL SELECT 'establishment', _extract_number, _deleted_at_extract FROM establishment WHERE enterprise_number = $n "
        "UNION ALL SELECT 'branch', _extract_number, _deleted_at_extract FROM branch WHERE enterprise_number = $n "
        "UNION ALL SELECT t, _extract_number, _deleted_at_extract FROM (SELECT 'address' AS t, * FROM address UNION ALL BY NAME "
        "SELECT 'contact' AS t, * FROM contact UNION ALL BY NAME SELECT 'activity' AS t, * FROM activity) WHERE entity_number = $n",
        {"n": number},
    ).fetchall()
    assert sorted(history, key=repr) == sorted(expected, key=repr)
    assert any(t == "denomination" and removed is not None for t, _, removed in history)
    assert [added for _, added, _ in history] == sorted(added for _, added, _ in history)
