"""Bad input gets a clear error naming the file (and line) and changes nothing."""

import zipfile
from pathlib import Path

import pytest

from kbo_pipeline.extract import ExtractError, read_extract
from kbo_pipeline.importer import import_extract
from kbo_pipeline.schema import create_schema

from .checks import table_checksums
from .conftest import EXTRACT_147

NAME = EXTRACT_147.name


def variant(tmp_path: Path, change, name: str = NAME) -> Path:
    """The real extract 147 with `change(members)` applied to its {name: bytes}."""
    with zipfile.ZipFile(EXTRACT_147) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    path = tmp_path / "bad" / name
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


def replace_in(member: str, old: bytes, new: bytes, count: int = 1):
    def change(members):
        assert old in members[member]
        members[member] = members[member].replace(old, new, count)
    return change


CASES = {
    "missing insert member": (lambda m: m.pop("activity_insert.csv"), "activity_insert.csv is missing"),
    "missing delete member": (lambda m: m.pop("branch_delete.csv"), "branch_delete.csv is missing"),
    "missing meta": (lambda m: m.pop("meta.csv"), "meta.csv is missing"),
    "unknown extract type": (replace_in("meta.csv", b'"update"', b'"delta"'), "unknown ExtractType 'delta'"),
    "non-numeric number": (replace_in("meta.csv", b'"147"', b'"14x"'), "ExtractNumber '14x' is not a number"),
    "name and meta disagree": (replace_in("meta.csv", b'"147"', b'"148"'), "file name says extract 147 (update) but meta.csv says extract 148"),
    "renamed column": (replace_in("address_insert.csv", b'"Zipcode"', b'"ZipCode"'), "address_insert.csv line 1: expected columns"),
    "extra column": (replace_in("contact_insert.csv", b'"Value"\n', b'"Value","Extra"\n'), "contact_insert.csv line 1: expected columns"),
    "unparseable date": (replace_in("enterprise_insert.csv", b"15-09-2025", b"31-02-2025"), "enterprise_insert.csv line 2: Error when converting column"),
    "too many fields": (replace_in("activity_insert.csv", b'"MAIN"\n', b'"MAIN","x"\n'), "activity_insert.csv line "),
    "not utf-8": (replace_in("denomination_insert.csv", b"Callebaut", b"Call\xffbaut"), "denomination_insert.csv line 2"),
    "unterminated quote": (replace_in("contact_insert.csv", b'"www.liespraet.be"', b'"www.liespraet.be'), "contact_insert.csv line"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_extract_fails_clearly_and_changes_nothing(case, db, work_dir, tmp_path):
    change, message = CASES[case]
    path = variant(tmp_path, change)
    create_schema(db)
    before = table_checksums(db)
    with pytest.raises(ExtractError) as info:
        import_extract(db, path, work_dir)
    assert NAME in str(info.value) and message in str(info.value)
    assert table_checksums(db) == before
    status, error = db.execute("SELECT status, error_message FROM import_jobs ORDER BY job_id DESC LIMIT 1").fetchone()
    assert status == "failed" and message in error


def test_not_a_zip_and_an_empty_zip(tmp_path):
    not_zip = tmp_path / NAME
    not_zip.write_text("hello")
    with pytest.raises(ExtractError, match="not a valid ZIP"):
        read_extract(not_zip)
    truncated = tmp_path / "t" / NAME
    truncated.parent.mkdir()
    truncated.write_bytes(EXTRACT_147.read_bytes()[:5000])
    with pytest.raises(ExtractError, match="not a valid ZIP"):
        read_extract(truncated)
    empty = tmp_path / "e" / NAME
    empty.parent.mkdir()
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ExtractError, match="the ZIP is empty"):
        read_extract(empty)


def test_a_member_outside_the_folder_is_refused(tmp_path):
    path = variant(tmp_path, lambda m: m.update({"../x.csv": b"x"}))
    with pytest.raises(ExtractError, match="outside the extraction folder"):
        read_extract(path)


def test_an_unknown_harmless_member_is_ignored_with_a_warning(tmp_path):
    path = variant(tmp_path, lambda m: m.update({"readme.txt": b"hello"}))
    assert any("readme.txt" in w for w in read_extract(path).warnings)


def test_a_bad_file_name_is_refused(tmp_path):
    path = tmp_path / "extract.zip"
    path.write_bytes(EXTRACT_147.read_bytes())
    with pytest.raises(ExtractError, match="not a KBO extract name"):
        read_extract(path)


def test_monthly_names_are_accepted(tmp_path):
    from kbo_pipeline.extract import parse_file_name

    assert parse_file_name("KboOpenData_0137_2025_07_Full.zip") == (137, "full")
    assert parse_file_name("KboOpenData_0147_2025_10_12_Update.zip") == (147, "update")


def test_a_zip_bomb_is_refused_before_unpacking(tmp_path):
    path = variant(tmp_path, lambda m: m.update({"code.csv": m["code.csv"][:200] + b"\0" * 50_000_000}))
    with pytest.raises(ExtractError, match="likely zip bomb"):
        read_extract(path)
