"""The data checks: an Update is checked on the keys it touched, a Full and the audit on whole tables;
`kbo audit` and the kbo_audit job report every check and fail on an error."""

import subprocess
import sys

from dagster import DagsterInstance, execute_job, reconstructable

from kbo_pipeline.core.data_checks import SPECS, audit, check_extract, failed_errors
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.definitions import get_audit_job


def _by_name(outcomes) -> dict[tuple[str, str], object]:
    return {(o.spec.table, o.spec.name): o for o in outcomes}


def _import(db, samples, work_dir, count):
    for path in samples[:count]:
        import_extract(db, path, work_dir)


def _duplicate_an_untouched_enterprise(db, extract_number: int) -> str:
    """A second current row for an enterprise that extract N did not touch (a fault from elsewhere)."""
    key = db.execute(
        "SELECT entity_number FROM enterprise WHERE _is_current AND entity_number NOT IN "
        "(SELECT entity_number FROM enterprise WHERE _extract_number = $n OR _deleted_at_extract = $n) LIMIT 1",
        {"n": extract_number},
    ).fetchone()[0]
    db.execute("INSERT INTO enterprise SELECT * FROM enterprise WHERE entity_number = $k AND _is_current", {"k": key})
    return key


def test_every_check_passes_on_a_replayed_database(db, work_dir, samples):
    _import(db, samples, work_dir, 3)
    for number in (140, 141, 142):
        outcomes = check_extract(db, number)
        assert len(outcomes) == len(SPECS) == 16
        assert not failed_errors(outcomes)
    figures = _by_name(check_extract(db, 142))[("activity", "rows_applied_equal_rows_staged")].metadata
    assert (
        figures["rows_staged"] == figures["rows_inserted"] > 0
        and figures["rows_retired"] == figures["ledger_rows_retired"] > 0
    )
    audited = _by_name(audit(db))
    assert not failed_errors(list(audited.values()))
    assert audited[("activity", "rows_applied_equal_rows_staged")].metadata == {
        "extracts_checked": 3,
        "extracts_wrong": 0,
    }
    # The check's temporary tables do not outlive it.
    assert not db.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'check_rows_%'").fetchone()[0]


def test_an_update_is_checked_on_what_it_touched_and_the_audit_on_everything(db, work_dir, samples):
    _import(db, samples, work_dir, 2)
    _duplicate_an_untouched_enterprise(db, 141)
    # The Update's own checks do not look at keys it did not touch: they cost what it changed.
    assert not failed_errors(check_extract(db, 141))
    # A Full is checked whole, and so is the database by the audit.
    assert ("enterprise", "one_current_row_per_key") in {
        (o.spec.table, o.spec.name) for o in failed_errors(check_extract(db, 140))
    }
    failed = {(o.spec.table, o.spec.name): o for o in failed_errors(audit(db))}
    assert failed[("enterprise", "one_current_row_per_key")].metadata == {"keys_with_several_current_rows": 1}
    # The extra row carries extract 140's stamp without its ledger: the audit sees that too.
    assert failed[("enterprise", "rows_applied_equal_rows_staged")].metadata["first_wrong_extract"] in (140, 141)


def test_a_duplicate_or_an_orphan_the_update_made_is_found(db, work_dir, samples):
    _import(db, samples, work_dir, 2)
    # As if extract 141 had inserted a second current row for one of its enterprises and retired an
    # enterprise whose establishments stay current.
    touched = db.execute(
        "SELECT entity_number FROM enterprise WHERE _extract_number = 141 AND _is_current LIMIT 1"
    ).fetchone()[0]
    db.execute(
        "INSERT INTO enterprise SELECT * FROM enterprise WHERE entity_number = $k AND _is_current", {"k": touched}
    )
    parent = db.execute(
        "SELECT e.entity_number FROM enterprise e JOIN establishment s ON s.enterprise_number = e.entity_number "
        "WHERE e._is_current AND s._is_current AND e.entity_number <> $k LIMIT 1",
        {"k": touched},
    ).fetchone()[0]
    db.execute(
        "UPDATE enterprise SET _is_current = false, _deleted_at_extract = 141 WHERE entity_number = $k AND _is_current",
        {"k": parent},
    )
    children = db.execute(
        "SELECT count(*) FROM denomination WHERE _is_current AND entity_number = $k", {"k": parent}
    ).fetchone()[0]
    assert children > 0
    outcomes = _by_name(check_extract(db, 141))
    assert outcomes[("denomination", "belongs_to_a_current_entity")].metadata["orphans"] >= children
    assert outcomes[("enterprise", "one_current_row_per_key")].metadata == {"keys_with_several_current_rows": 1}
    assert not outcomes[("enterprise", "rows_applied_equal_rows_staged")].passed
    assert outcomes[("establishment", "enterprise_is_current")].metadata["orphans"] >= 1
    assert outcomes[("establishment", "enterprise_is_current")].spec.severity == "warn"


def test_kbo_audit_prints_every_check_and_fails_on_an_error(tmp_path, samples):
    database = tmp_path / "kbo.duckdb"
    with connect(str(database)) as conn:
        _import(conn, samples, tmp_path / "work", 2)
    command = [sys.executable, "-m", "kbo_pipeline.cli.main", "audit", "--database", str(database)]
    clean = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.count("passed") >= 12 and "enterprise" in clean.stdout and "16 checks" in clean.stdout
    with connect(str(database)) as conn:
        _duplicate_an_untouched_enterprise(conn, 141)
    broken = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert "enterprise.one_current_row_per_key: FAILED (keys_with_several_current_rows 1)" in broken.stdout
    assert "kbo audit: " in broken.stderr and "data check(s) failed" in broken.stderr


def test_the_kbo_audit_job_reports_and_fails_on_an_error(dagster_home, tmp_path, samples):
    database = tmp_path / "kbo.duckdb"
    with connect(str(database)) as conn:
        _import(conn, samples, tmp_path / "work", 2)
    config = {"resources": {"kbo_db": {"config": {"database": str(database)}}}}
    with DagsterInstance.get() as instance:
        with execute_job(reconstructable(get_audit_job), instance=instance, run_config=config) as result:
            assert result.success
            metadata = next(
                e.event_specific_data.metadata for e in result.all_events if e.event_type_value == "STEP_OUTPUT"
            )
            assert metadata["checks"].value == 16 and metadata["failed"].value == 0
        with connect(str(database)) as conn:
            _duplicate_an_untouched_enterprise(conn, 141)
        with execute_job(
            reconstructable(get_audit_job), instance=instance, run_config=config, raise_on_error=False
        ) as result:
            assert not result.success
            failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
            assert "data check(s) failed" in failure.event_specific_data.error.message
