"""A generated Full followed by Updates: current state, history and every as-of-K state equal the
independent replay."""

from kbo_pipeline.entities import TABLES
from kbo_pipeline.importer import import_extract

from .replay import AS_OF, Replay, database_rows


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
    retired = dict(db.execute(
        "SELECT 'enterprise', count(*) FROM enterprise WHERE NOT _is_current UNION ALL "
        "SELECT 'branch', count(*) FROM branch WHERE NOT _is_current UNION ALL "
        "SELECT 'establishment', count(*) FROM establishment WHERE NOT _is_current UNION ALL "
        "SELECT 'denomination', count(*) FROM denomination WHERE NOT _is_current"
    ).fetchall())
    assert all(count > 0 for count in retired.values()), retired
    # An enterprise whose only change was its denominations carries the new name.
    renamed = db.execute(
        "SELECT count(*) FROM enterprise e WHERE e._is_current AND e._extract_number = 140 AND EXISTS ("
        "SELECT 1 FROM denomination d WHERE d.entity_number = e.entity_number AND d._extract_number > 140 "
        "AND d.type_of_denomination = '001' AND d._is_current AND d.denomination = e.primary_name)"
    ).fetchone()[0]
    assert renamed > 0
    # Names with commas, quotes and apostrophes survive as text; an injection attempt is only a name.
    assert db.execute("SELECT count(*) FROM denomination WHERE denomination LIKE '%DROP TABLE enterprise%'").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM denomination WHERE denomination LIKE '%\"Le Coq\"%'").fetchone()[0] > 0
