"""The Parquet files on their own: the change set and the current state of a database, written so that
a reader never sees half a file and a second (or failed, then repeated) export leaves the same bytes."""

import hashlib
import threading

import duckdb
import pytest

from kbo_pipeline.core import exports
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import ENTITIES, ENTITY_BY_TABLE, TABLES
from kbo_pipeline.core.exports import changes_folder, expected_rows, export_changes, export_current, file_rows
from kbo_pipeline.core.extract import parse_file_name
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.schema import create_schema, is_establishment_number, reaches_enterprise_through_establishment


def digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def applied(db, work_dir, samples):
    for path in samples[:3]:
        import_extract(db, path, work_dir)
    return db


def test_the_change_set_is_one_typed_file_per_table(applied, tmp_path):
    files = export_changes(applied, 142, tmp_path / "out")
    assert [f.table for f in files] == list(TABLES)
    assert all(f.path.parent == tmp_path / "out" / "changes" / "extract=142" for f in files)
    for f in files:
        assert f.rows == file_rows(applied, f.path) == expected_rows(applied, f.table, 142) and f.bytes > 0
    # Hive layout: the extract number is a column to any reader; the table's own columns are typed.
    reader = duckdb.connect()
    rows = reader.execute(
        "SELECT extract, change, kind, typeof(start_date) FROM read_parquet($glob, hive_partitioning = true) LIMIT 1",
        {"glob": str(tmp_path / "out" / "changes" / "*" / "enterprise.parquet")},
    ).fetchall()
    assert rows[0][0] == 142 and rows[0][1] in ("added", "retired") and rows[0][3] == "DATE"


def test_exporting_again_or_after_a_failure_writes_the_same_bytes(applied, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export_changes(applied, 142, out)
    first = digests(changes_folder(out, 142))
    export_changes(applied, 142, out)
    assert digests(changes_folder(out, 142)) == first

    # Interrupted after three tables, half-way through the fourth: the reader's *.parquet never shows it.
    real_write, written = exports._write, []

    def failing(conn, query, params, table, folder):
        if len(written) == 3:
            (folder / f"{table}.parquet{exports.PARTIAL}999999").write_bytes(b"half a file")
            raise OSError("disk full")
        written.append(table)
        return real_write(conn, query, params, table, folder)

    monkeypatch.setattr(exports, "_write", failing)
    with pytest.raises(OSError, match="disk full"):
        export_changes(applied, 142, out)
    monkeypatch.setattr(exports, "_write", real_write)
    assert sorted(p.name for p in changes_folder(out, 142).glob("*.parquet")) == sorted(first)
    export_changes(applied, 142, out)
    assert digests(changes_folder(out, 142)) == first  # and the half file is gone


@pytest.mark.parametrize("bound_keys", [exports.BOUND_KEYS, 0])
def test_each_file_holds_the_change_set_of_its_macro(applied, tmp_path, monkeypatch, bound_keys):
    """The export reads a change set its own way (a first Full without the macro's grouping and sort;
    an update with its keys bound, or past BOUND_KEYS through the macro): the same rows either way."""
    monkeypatch.setattr(exports, "BOUND_KEYS", bound_keys)
    numbers = [k for (k,) in applied.execute("SELECT extract_number FROM import_jobs ORDER BY 1").fetchall()]
    assert exports.change_set_query(applied, "activity", numbers[0])[0].startswith("SELECT * FROM first_changes_in_")
    later = exports.change_set_query(applied, "activity", numbers[1])[0]
    assert ("changes_of_" in later) == bool(bound_keys) and ("changes_in_" in later) == (not bound_keys)
    for k in numbers:
        for f in export_changes(applied, k, tmp_path / "out"):
            written = applied.execute(
                "SELECT * FROM read_parquet($p, hive_partitioning = false) ORDER BY ALL", {"p": str(f.path)}
            ).fetchall()
            macro = applied.execute(f"SELECT * FROM changes_in_{f.table}($k) ORDER BY ALL", {"k": k}).fetchall()
            assert written == macro and len(written) == expected_rows(applied, f.table, k), (k, f.table)


def test_a_first_full_is_written_in_the_table_s_order(applied, tmp_path):
    """No sort: a first Full's change set comes out in the table's order, an enterprise's rows first,
    then an establishment's (their enterprise is found by a join, which does not keep the order)."""
    first = applied.execute("SELECT min(extract_number) FROM import_jobs").fetchone()[0]
    establishment_rows = 0
    for f in export_changes(applied, first, tmp_path / "out"):
        written = applied.execute("SELECT * FROM read_parquet($p, hive_partitioning = false)", {"p": str(f.path)}).df()
        entity = ENTITY_BY_TABLE[f.table]
        ordered = "rowid"
        if reaches_enterprise_through_establishment(entity):
            ordered = f"{is_establishment_number(entity.key)}, rowid"
            establishment_rows += applied.execute(
                f"SELECT count(*) FROM {f.table} WHERE {is_establishment_number(entity.key)}"
            ).fetchone()[0]
        table = applied.execute(
            f"SELECT * EXCLUDE (_is_current, _deleted_at_extract) FROM {f.table} WHERE _extract_number = $k "
            f"ORDER BY {ordered}",
            {"k": first},
        ).df()
        assert written.iloc[:, -len(table.columns) :].equals(table), f.table  # after change, kind, enterprise
    assert establishment_rows > 0  # the join's branch was written too


def test_a_first_full_keeps_the_table_s_order_where_a_hash_join_would_not(tmp_path):
    """At a size where DuckDB probes its hash join on several threads (a million activity rows, a third of
    them an establishment's), the rows an establishment's enterprise is joined to still come out in the
    table's order, every time: the samples are too small for the join to reorder anything."""
    with connect(str(tmp_path / "big.duckdb")) as conn:
        create_schema(conn)
        conn.execute("SET threads = 4")
        conn.execute(
            "INSERT INTO establishment (establishment_number, start_date, enterprise_number, _snapshot_date, "
            "_extract_number, _is_current) SELECT '2.' || lpad(i::VARCHAR, 9, '0'), DATE '2000-01-01', "
            "'0' || lpad((i * 3)::VARCHAR, 11, '0'), DATE '2025-10-01', 140, true FROM range(100000) t(i)"
        )
        conn.execute(
            "INSERT INTO activity (entity_number, activity_group, nace_version, nace_code, classification, "
            "_snapshot_date, _extract_number, _is_current) SELECT CASE WHEN i % 3 = 0 THEN '2.' || "
            "lpad((i % 100000)::VARCHAR, 9, '0') ELSE '0' || lpad(i::VARCHAR, 11, '0') END, '001', '2008', "
            "i::VARCHAR, 'MAIN', DATE '2025-10-01', 140, true FROM range(1000000) t(i)"
        )
        query = exports.change_set_query(conn, "activity", 140)
        assert query.in_table_order
        expected = conn.execute(
            f"SELECT nace_code FROM activity ORDER BY {is_establishment_number('entity_number')}, rowid"
        ).fetchall()
        for attempt in range(2):
            out = tmp_path / f"activity{attempt}.parquet"
            conn.execute(f"COPY ({query.sql}) TO $path (FORMAT parquet)", {**query.params, "path": str(out)})
            assert conn.execute("SELECT nace_code FROM read_parquet($p)", {"p": str(out)}).fetchall() == expected


def test_an_establishment_number_of_another_form_takes_the_macro_s_path(applied, tmp_path):
    """first_changes_in_<table> tells an establishment's rows by the number's form: an establishment
    whose number lacks it sends a first Full's child tables through the general path instead."""
    first = applied.execute("SELECT min(extract_number) FROM import_jobs").fetchone()[0]
    assert "first_changes_in_" in exports.change_set_query(applied, "address", first)[0]
    applied.execute(
        "UPDATE establishment SET establishment_number = replace(establishment_number, '.', '') "
        "WHERE rowid = (SELECT min(rowid) FROM establishment)"
    )
    assert "first_changes_in_" not in exports.change_set_query(applied, "address", first)[0]
    assert "first_changes_in_" in exports.change_set_query(applied, "enterprise", first)[0]


def test_the_current_snapshot_holds_every_current_row(applied, tmp_path):
    files = export_current(applied, tmp_path / "out")
    assert [f.table for f in files] == [*TABLES, "code"]
    for f in files:
        assert f.rows == expected_rows(applied, f.table, None), f.table
    columns = [
        d[0] for d in applied.execute("SELECT * FROM read_parquet($p) LIMIT 0", {"p": str(files[0].path)}).description
    ]
    assert "_is_current" not in columns and "primary_name" in columns


def test_a_reader_never_sees_half_a_file_while_an_export_is_written(applied, tmp_path):
    out = tmp_path / "out"
    export_changes(applied, 142, out)
    glob = str(changes_folder(out, 142) / "*.parquet")
    total = sum(expected_rows(applied, t, 142) for t in TABLES)
    stop, errors = threading.Event(), []

    def write_again():
        conn = applied.cursor()
        try:
            while not stop.is_set():
                export_changes(conn, 142, out)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    writer = threading.Thread(target=write_again)
    writer.start()
    reader = duckdb.connect()
    try:
        counts = [reader.execute("SELECT count(*) FROM read_parquet($g)", {"g": glob}).fetchone()[0] for _ in range(60)]
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors
    assert set(counts) == {total}


def test_the_readme_reading_paths_work(applied, tmp_path):
    """README's DuckDB and pandas snippets, on exports of two extracts."""
    out = tmp_path / "out"
    for k in (141, 142):
        export_changes(applied, k, out)
    reader = duckdb.connect()
    rows = reader.execute(
        "SELECT extract, count(*) FROM read_parquet($glob, hive_partitioning = true) "
        "WHERE extract > 140 AND kind <> 'unchanged' GROUP BY ALL ORDER BY 1",
        {"glob": str(out / "changes" / "*" / "address.parquet")},
    ).fetchall()
    assert [k for k, _ in rows] == [141, 142]
    frame = duckdb.read_parquet(str(out / "changes" / "*" / "address.parquet"), hive_partitioning=True).df()
    assert set(frame["extract"]) == {141, 142} and {"change", "kind", "enterprise_number", "zipcode"} <= set(
        frame.columns
    )
    assert len(frame) == sum(
        applied.execute("SELECT count(*) FROM changes_in_address($k)", {"k": k}).fetchone()[0] for k in (141, 142)
    )


def test_a_consumer_following_the_readme_ends_with_the_database_s_rows_and_names(db, work_dir, samples, tmp_path):
    """Red team 8: a change to denominations alone updates an enterprise's names in place; the change
    set now carries it ('renamed'), so the README's recipe (per table: remove the keys listed retired,
    add the rows listed added, skip 'unchanged' keys) ends with the same rows and names as the database."""
    out = tmp_path / "out"
    for path in samples:
        import_extract(db, path, work_dir)
        export_changes(db, parse_file_name(path.name)[0], out)
    assert db.execute("SELECT count(*) FROM import_name_changes").fetchone()[0] > 0  # the samples rename some
    consumer = duckdb.connect()
    for folder in sorted((out / "changes").iterdir(), key=lambda f: int(f.name.split("=")[1])):
        for entity in ENTITIES:
            columns = ", ".join(c.name for c in entity.table_columns)
            changes = {"path": str(folder / f"{entity.table}.parquet")}
            if not consumer.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = $t", {"t": entity.table}
            ).fetchone()[0]:
                consumer.execute(
                    f"CREATE TABLE {entity.table} AS SELECT {columns} FROM read_parquet($path) LIMIT 0", changes
                )
            consumer.execute(
                f"DELETE FROM {entity.table} WHERE {entity.key} IN (SELECT {entity.key} FROM read_parquet($path) "
                "WHERE change = 'retired' AND kind <> 'unchanged')",
                changes,
            )
            consumer.execute(
                f"INSERT INTO {entity.table} SELECT {columns} FROM read_parquet($path) "
                "WHERE change = 'added' AND kind <> 'unchanged'",
                changes,
            )
    for entity in ENTITIES:
        columns = ", ".join(c.name for c in entity.table_columns)
        ours = sorted(db.execute(f"SELECT {columns} FROM {entity.table} WHERE _is_current").fetchall(), key=repr)
        theirs = sorted(consumer.execute(f"SELECT {columns} FROM {entity.table}").fetchall(), key=repr)
        assert theirs == ours, entity.table
