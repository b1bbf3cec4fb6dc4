"""A Full on a database that already holds data: only the differences go through the batch path."""

import json
from datetime import date

import pytest

from kbo_pipeline.core.database import connect, transaction
from kbo_pipeline.core.entities import ENTITIES, ENTITY_BY_TABLE, TABLES
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.reconcile import DriftTooLarge, stage_differences
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline.core.staging import load_rows_sql, stage_rows_sql
from kbo_pipeline_tests.support.fulls import current_state, full_zip
from kbo_pipeline_tests.support.tables import table_checksums


def current_rows(conn, table):
    entity = next(e for e in ENTITIES if e.table == table)
    names = ", ".join(c.name for c in entity.columns)
    return sorted(conn.execute(f"SELECT {names} FROM {table} WHERE _is_current").fetchall(), key=repr)


def test_an_identical_full_changes_nothing_but_the_ledger(db, work_dir, samples, tmp_path):
    for path in samples[:3]:
        import_extract(db, path, work_dir)
    before = table_checksums(db)
    result = import_extract(db, full_zip(tmp_path, 150, current_state(db)), work_dir)
    assert result.final.already_completed is False and result.batches == ()
    assert table_checksums(db) == before
    drift = json.loads(db.execute("SELECT drift_report FROM import_jobs WHERE extract_number = 150").fetchone()[0])
    assert [d["changed_keys"] for d in drift] == [0] * 7


def test_a_full_with_drift_applies_only_the_differences(db, work_dir, samples, tmp_path):
    for path in samples[:3]:
        import_extract(db, path, work_dir)
    state = current_state(db)
    gone = state["enterprise"].pop(0)["entity_number"]  # an enterprise the updates missed ceasing
    state["denomination"] = [d for d in state["denomination"] if d["entity_number"] != gone]
    renamed = state["denomination"][3]
    renamed["denomination"] = "Nieuwe Naam, NV"  # a denomination the updates missed
    missed = {**state["activity"][0], "nace_code": "99999"}  # an activity the updates missed
    missed["id"] = "_".join(missed[k] for k in ("entity_number", "activity_group", "nace_version", "nace_code"))
    state["activity"].append(missed)
    activity_key = missed["entity_number"]
    rows_before = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    result = import_extract(db, full_zip(tmp_path, 150, state), work_dir)
    assert result.final.already_completed is False
    # The state after the Full is the Full.
    for entity in ENTITIES:
        expected = sorted((tuple(r[c.name] for c in entity.columns) for r in state[entity.table]), key=repr)
        assert current_rows(db, entity.table) == expected, entity.table
    # Drift is counted per key, and history is not doubled: only the differing keys got new rows.
    drift = {
        d["table"]: d
        for d in json.loads(db.execute("SELECT drift_report FROM import_jobs WHERE extract_number = 150").fetchone()[0])
    }
    assert drift["enterprise"]["changed_keys"] == 1 and drift["enterprise"]["keys_inserted"] == 0
    assert drift["denomination"]["changed_keys"] == (2 if renamed["entity_number"] != gone else 1)
    assert drift["activity"]["changed_keys"] == 1
    assert drift["address"]["changed_keys"] == 0
    new_rows = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] - rows_before[t] for t in TABLES}
    assert new_rows["address"] == 0 and new_rows["enterprise"] == 0
    assert (
        new_rows["activity"]
        == db.execute(
            "SELECT count(*) FROM activity WHERE entity_number = $k AND _is_current", {"k": activity_key}
        ).fetchone()[0]
    )
    # After the Full, the next update to apply is 151.
    assert db.execute("SELECT max(extract_number) FROM import_jobs WHERE status = 'completed'").fetchone()[0] == 150


def test_drift_above_five_percent_fails_unless_accepted(db, work_dir, samples, tmp_path):
    import_extract(db, samples[0], work_dir)
    state = current_state(db)
    state["enterprise"] = state["enterprise"][: len(state["enterprise"]) // 2]
    path = full_zip(tmp_path, 150, state)
    before = table_checksums(db)
    with pytest.raises(DriftTooLarge, match=r"differs from the database by more than 5% \(enterprise 50") as refused:
        import_extract(db, path, work_dir)
    assert refused.value.table == "enterprise" and refused.value.drifts[0].ratio > 0.05
    assert table_checksums(db) == before
    assert import_extract(db, path, work_dir, accept_drift=True).final.already_completed is False
    assert len(current_rows(db, "enterprise")) == len(state["enterprise"])


def test_a_full_larger_than_a_row_group_is_compared_whole(tmp_path):
    """On DuckDB 2.0.0 a table created with `AS SELECT ... LIMIT 0` inside a transaction read back empty
    once an insert into it spanned a row group (122,880 rows): a reconciled Full then looked empty, and
    every current key differed. 130,000 enterprises, the same in the Full: nothing differs."""
    enterprise, csv = ENTITY_BY_TABLE["enterprise"], tmp_path / "enterprise.csv"
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        create_schema(conn)
        conn.execute(
            "COPY (SELECT printf('0%03d.%03d.%03d', i // 1000000, i // 1000 % 1000, i % 1000) AS EnterpriseNumber, "
            "'AC' AS Status, '000' AS JuridicalSituation, '1' AS TypeOfEnterprise, NULL AS JuridicalForm, "
            "NULL AS JuridicalFormCAC, '01-01-2000' AS StartDate FROM range(200000000, 200130000) t(i)) "
            "TO $path (HEADER)",
            {"path": str(csv)},
        )
        loaded = {"path": str(csv), "snapshot_date": date(2025, 9, 30), "extract_number": 140}
        assert conn.execute(load_rows_sql(enterprise), loaded).fetchone()[0] == 130_000

        def stage_full_rows(target):
            staged = {"path": str(csv), "job_id": 2, "operation": "insert", "batch_size": 1}
            conn.execute(stage_rows_sql(enterprise, "insert", target), staged)

        with transaction(conn):
            drift, deletes, inserts = stage_differences(conn, enterprise, 2, stage_full_rows, 1000)
    assert (drift.changed_keys, drift.current_keys, deletes, inserts) == (0, 130_000, 0, 0)
