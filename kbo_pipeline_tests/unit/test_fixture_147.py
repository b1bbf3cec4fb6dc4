"""The real extract 147, byte for byte, applied to an empty database."""

import datetime

from kbo_pipeline.core.importer import import_extract
from kbo_pipeline_tests.support.files import EXTRACT_147, ROWS_147
from kbo_pipeline_tests.support.replay import Replay, database_rows


def test_extract_147_gives_the_published_row_counts(db, work_dir):
    result = import_extract(db, EXTRACT_147, work_dir)
    assert result.final.already_completed is False
    for table, count in ROWS_147.items():
        total, current = db.execute(f"SELECT count(*), count(*) FILTER (WHERE _is_current) FROM {table}").fetchone()
        assert (total, current) == (count, count), table
    assert db.execute("SELECT count(*) FROM code").fetchone()[0] == 21500
    job = db.execute(
        "SELECT extract_number, extract_type, snapshot_date, extract_timestamp, status, rows_inserted FROM import_jobs"
    ).fetchone()
    assert job == (
        147,
        "update",
        datetime.date(2025, 10, 11),
        datetime.datetime(2025, 10, 12, 7, 40, 18),
        "completed",
        sum(ROWS_147.values()),
    )
    # The job's staging rows and unpacked CSVs are gone once it completed.
    assert db.execute("SELECT count(*) FROM import_staging_activity").fetchone()[0] == 0
    assert not any(work_dir.iterdir())


def test_extract_147_values_are_typed_as_the_contract_says(db, work_dir):
    import_extract(db, EXTRACT_147, work_dir)
    row = db.execute(
        "SELECT status, juridical_situation, type_of_enterprise, juridical_form, juridical_form_cac, start_date, "
        "primary_name, primary_name_language, _extract_number, _snapshot_date FROM enterprise WHERE entity_number = '0552.627.113'"
    ).fetchone()
    # Codes keep their leading zeros, missing values are NULL, dates are DATE.
    assert row == (
        "AC",
        "000",
        "1",
        None,
        None,
        datetime.date(2025, 9, 15),
        "Callebaut, Brenda",
        "0",
        147,
        datetime.date(2025, 10, 11),
    )
    types = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'address'"
        ).fetchall()
    )
    assert types["date_striking_off"] == "DATE" and types["zipcode"] == "VARCHAR"
    # `""` is NULL like an empty field.
    assert db.execute("SELECT count(*) FROM address WHERE extra_address_info = ''").fetchone()[0] == 0
    activity = db.execute(
        "SELECT id, entity_number, activity_group, nace_version, nace_code FROM activity LIMIT 1"
    ).fetchone()
    assert activity[0] == "_".join(activity[1:])


def test_extract_147_equals_the_independent_replay(db, work_dir):
    import_extract(db, EXTRACT_147, work_dir)
    replay = Replay()
    replay.apply(EXTRACT_147)
    for table in ROWS_147:
        assert database_rows(db, table) == replay.rows(table), table
    assert sorted(db.execute("SELECT * FROM code").fetchall()) == sorted(replay.code)
