"""Duplicate rows in real insert files are not errors: identical rows are one row, and in the tables of
one row per key the last row of a key wins. Added to the real extract 147 (and to a generated Full), the
duplicates leave the database exactly as the clean file does, and are reported with their lines."""

import re
import zipfile

import pytest

from kbo_pipeline.core.data_checks import audit
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.duplicates import job_duplicates
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline_tests.support.files import EXTRACT_147, rewritten
from kbo_pipeline_tests.support.fulls import current_state, full_zip
from kbo_pipeline_tests.support.tables import table_checksums

CHILD_FILE = re.compile(r"(activity|contact|denomination|address)(_insert)?\.csv")
KEYED_FILE = re.compile(r"(enterprise|establishment)(_insert)?\.csv")


def _rows(data: bytes) -> tuple[bytes, list[bytes]]:
    header, *rows = data.rstrip(b"\n").split(b"\n")
    return header, rows


def _joined(header: bytes, rows: list[bytes]) -> bytes:
    return b"\n".join([header, *rows]) + b"\n"


def repeated_child_rows(name, data):
    """Every child insert file: its second row again right after its third (line 5), and its first row
    again at the end."""
    if not CHILD_FILE.fullmatch(name):
        return name, data
    header, rows = _rows(data)
    return name, _joined(header, [*rows[:3], rows[1], *rows[3:], rows[0]])


DATE = re.compile(rb'"?\d\d-\d\d-\d\d\d\d"?')


def _earlier_version(row: bytes) -> bytes:
    """The row with its first text field after the key changed: the same key, other values."""
    fields = row.split(b",")
    changed = next(i for i in range(1, len(fields)) if not DATE.fullmatch(fields[i]))
    fields[changed] = b'"XX"' if fields[changed] != b'"XX"' else b'"YY"'
    return b",".join(fields)


def superseded_keys(name, data):
    """Every keyed insert file: an other version of its first two rows' keys before each of them (the file's
    own rows come last and win)."""
    if not KEYED_FILE.fullmatch(name):
        return name, data
    header, rows = _rows(data)
    return name, _joined(header, [_earlier_version(rows[0]), rows[0], _earlier_version(rows[1]), *rows[1:]])


def _import(conn, tmp_path, path) -> int:
    """Import one extract; its job id. The audit's blocking checks must pass after it."""
    result = import_extract(conn, path, tmp_path / "work")
    assert result.final is not None
    assert [o.spec.name for o in audit(conn) if not o.passed and o.spec.severity == "error"] == []
    return result.start.job_id


def test_identical_child_rows_are_stored_once(clean_147, tmp_path):
    path = rewritten(tmp_path / "landing", repeated_child_rows)
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        job_id = _import(conn, tmp_path, path)
        assert table_checksums(conn) == clean_147
        dropped = job_duplicates(conn, job_id)
    rows = {"activity": 425, "address": 68, "contact": 40, "denomination": 53}
    assert sorted(dropped) == sorted(rows)
    for table, count in rows.items():
        # header line 1, then rows 0, 1, 2 and the copy of row 1 on line 5; the copy of row 0 is last
        assert dropped[table].lines == (5, count + 3), table
        assert not dropped[table].last_wins


def test_the_last_row_of_a_key_wins(clean_147, tmp_path):
    path = rewritten(tmp_path / "landing", superseded_keys)
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        job_id = _import(conn, tmp_path, path)
        assert table_checksums(conn) == clean_147
        dropped = job_duplicates(conn, job_id)
    assert sorted(dropped) == ["enterprise", "establishment"]
    assert all(d.lines == (2, 4) and d.last_wins for d in dropped.values())
    assert "the last row of a key wins" in dropped["enterprise"].warning(path.name)
    assert "lines 2, 4" in dropped["enterprise"].warning(path.name)


def test_a_later_row_of_a_key_replaces_the_earlier(tmp_path):
    """The changed row placed after the file's own: it is the one stored."""

    def later_version(name, data):
        if name != "enterprise_insert.csv":
            return name, data
        header, rows = _rows(data)
        return name, _joined(header, [*rows, _earlier_version(rows[0])])

    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        _import(conn, tmp_path, rewritten(tmp_path / "landing", later_version))
        statuses = conn.execute(
            "SELECT status FROM enterprise WHERE entity_number = $key AND _is_current",
            {"key": _first_key("enterprise_insert.csv")},
        ).fetchall()
    assert statuses == [("XX",)]


def _first_key(member: str) -> str:
    with zipfile.ZipFile(EXTRACT_147) as z:
        return z.read(member).split(b"\n")[1].split(b",")[0].strip(b'"').decode()


@pytest.mark.parametrize("quirk", [repeated_child_rows, superseded_keys], ids=["identical rows", "keys repeated"])
def test_a_full_drops_the_same_duplicates(quirk, samples, tmp_path):
    with connect(str(tmp_path / "clean.duckdb")) as conn:
        import_extract(conn, samples[0], tmp_path / "work-clean")
        expected = table_checksums(conn)
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        job_id = _import(conn, tmp_path, rewritten(tmp_path / "landing", quirk, samples[0]))
        assert table_checksums(conn) == expected
        assert job_duplicates(conn, job_id)


@pytest.mark.parametrize("quirk", [repeated_child_rows, superseded_keys], ids=["identical rows", "keys repeated"])
def test_a_full_reconciled_with_the_database_drops_them_too(quirk, samples, tmp_path):
    """A Full on a database that holds data stages only its differences: the duplicates must not count
    as differences."""
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        import_extract(conn, samples[0], tmp_path / "work")
        expected = table_checksums(conn)
        same_full = rewritten(tmp_path / "landing", quirk, full_zip(tmp_path, 150, current_state(conn)))
        result = import_extract(conn, same_full, tmp_path / "work")
        assert result.final is not None
        assert conn.execute(
            "SELECT rows_staged FROM import_jobs WHERE job_id = $job", {"job": result.start.job_id}
        ).fetchone() == (0,)
        assert job_duplicates(conn, result.start.job_id)
        assert {t: s[0] for t, s in table_checksums(conn).items()} == {t: s[0] for t, s in expected.items()}
