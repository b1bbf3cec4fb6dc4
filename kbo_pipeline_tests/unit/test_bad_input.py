"""Bad input gets a clear error naming the file (and line) and changes nothing: a catalogue of
malformed extracts, each applied to a database that holds the real extract 147."""

import random
import shutil
import zipfile
from collections import namedtuple
from pathlib import Path

import duckdb
import pytest
from dagster import Failure

from kbo_pipeline.core import importer, staging
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.extract import ExtractError, parse_file_name, read_extract
from kbo_pipeline.core.import_lock import ImportLock
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.defs.retries import retrying
from kbo_pipeline.errors import ConfigError, Refusal, ResourceError, TransientError
from kbo_pipeline.sources.portal import PortalError, PortalRefused, PortalUnreachable
from kbo_pipeline_tests.support.files import EXTRACT_147
from kbo_pipeline_tests.support.tables import table_checksums

NAME = "KboOpenData_0148_2025_10_13_Update.zip"  # the next extract after 147


def members_148() -> dict[str, bytes]:
    """The real bytes of extract 147, relabelled as extract 148."""
    with zipfile.ZipFile(EXTRACT_147) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["meta.csv"] = members["meta.csv"].replace(b'"147"', b'"148"')
    return members


def write_zip(folder: Path, members: dict[str, bytes], name: str = NAME) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return folder / name


def changed(change):
    def build(folder: Path) -> Path:
        members = members_148()
        change(members)
        return write_zip(folder, members)

    return build


def replace_in(member: str, old: bytes, new: bytes):
    def change(members):
        assert old in members[member], (member, old)
        members[member] = members[member].replace(old, new, 1)

    return changed(change)


def raw_file(content: bytes):
    def build(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / NAME
        path.write_bytes(content)
        return path

    return build


def _truncated(folder: Path) -> Path:
    good = write_zip(folder / "whole", members_148())
    return raw_file(good.read_bytes()[:5000])(folder)


def _empty_zip(folder: Path) -> Path:
    return write_zip(folder, {})


def _gap(folder: Path) -> Path:
    members = members_148()
    members["meta.csv"] = members["meta.csv"].replace(b'"148"', b'"150"')
    return write_zip(folder, members, "KboOpenData_0150_2025_10_15_Update.zip")


def _patched_member(member: str, patch):
    """Extract 148 with the stored bytes of one member changed by patch(zip bytes, its ZipInfo)."""

    def build(folder: Path) -> Path:
        path = write_zip(folder, members_148())
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(member)
        data = bytearray(path.read_bytes())
        patch(data, info)
        path.write_bytes(bytes(data))
        return path

    return build


def _corrupt_data(data: bytearray, info: zipfile.ZipInfo) -> None:
    name_length, extra_length = (
        int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little"),
        int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little"),
    )
    start = info.header_offset + 30 + name_length + extra_length
    for i in range(start + 10, start + info.compress_size - 10, 7):
        data[i] ^= 0x5A


def _central_entry(data: bytearray, info: zipfile.ZipInfo) -> int:
    """Offset of the member's central directory entry."""
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = int.from_bytes(data[at + 28 : at + 30], "little")
        if bytes(data[at + 46 : at + 46 + name_length]) == info.filename.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(info.filename)


def _set_method(method: int):
    def patch(data: bytearray, info: zipfile.ZipInfo) -> None:
        data[info.header_offset + 8 : info.header_offset + 10] = method.to_bytes(2, "little")
        central = _central_entry(data, info)
        data[central + 10 : central + 12] = method.to_bytes(2, "little")

    return patch


def _set_encrypted(data: bytearray, info: zipfile.ZipInfo) -> None:
    data[info.header_offset + 6] |= 0x1
    data[_central_entry(data, info) + 8] |= 0x1


CATALOGUE = {
    "not a zip": (raw_file(b"<html>Session expired</html>"), "not a valid ZIP file"),
    "truncated zip": (_truncated, "not a valid ZIP file"),
    "empty zip": (_empty_zip, "the ZIP is empty"),
    "missing meta.csv": (changed(lambda m: m.pop("meta.csv")), "meta.csv is missing"),
    "missing insert member": (changed(lambda m: m.pop("activity_insert.csv")), "activity_insert.csv is missing"),
    "missing delete member": (changed(lambda m: m.pop("branch_delete.csv")), "branch_delete.csv is missing"),
    "unknown extract type": (replace_in("meta.csv", b'"update"', b'"delta"'), "unknown ExtractType 'delta'"),
    "non-numeric number": (replace_in("meta.csv", b'"148"', b'"14x"'), "ExtractNumber '14x' is not a number"),
    "name and meta disagree": (
        replace_in("meta.csv", b'"148"', b'"149"'),
        "the file name says extract 148 (update) but meta.csv says extract 149 (update)",
    ),
    "missing column": (
        replace_in("address_insert.csv", b',"DateStrikingOff"', b""),
        "address_insert.csv line 1: expected columns",
    ),
    "renamed column": (
        replace_in("address_insert.csv", b'"Zipcode"', b'"ZipCode"'),
        "address_insert.csv line 1: expected columns",
    ),
    "extra column": (
        replace_in("contact_insert.csv", b'"Value"\n', b'"Value","Extra"\n'),
        "contact_insert.csv line 1: expected columns",
    ),
    "unparseable date": (
        replace_in("enterprise_insert.csv", b"15-09-2025", b"31-02-2025"),
        'enterprise_insert.csv line 2: Error when converting column "StartDate"',
    ),
    "too many fields": (
        replace_in("activity_insert.csv", b'"SECO"\n', b'"SECO","x"\n'),
        "Expected Number of Columns: 5 Found: 6",
    ),
    "path outside the folder": (
        changed(lambda m: m.update({"../x.csv": b"x"})),
        "has a path outside the extraction folder",
    ),
    "zip bomb": (
        changed(lambda m: m.update({"code.csv": m["code.csv"][:200] + b"\0" * 50_000_000})),
        "likely zip bomb",
    ),
    "not utf-8": (
        replace_in("denomination_insert.csv", b"Callebaut", b"Call\xffbaut"),
        "denomination_insert.csv line 2: Invalid unicode",
    ),
    "unterminated quote": (
        replace_in("contact_insert.csv", b'"www.liespraet.be"', b'"www.liespraet.be'),
        "contact_insert.csv line 2: Value with unterminated quote found.",
    ),
    "update out of sequence": (_gap, "out of sequence: extract 148 is missing"),
    "compressed data that fails to decompress": (
        _patched_member("activity_insert.csv", _corrupt_data),
        "activity_insert.csv: cannot be read from the ZIP",
    ),
    "encrypted member": (
        _patched_member("contact_insert.csv", _set_encrypted),
        "member 'contact_insert.csv' is encrypted",
    ),
    "unsupported compression method": (
        _patched_member("address_insert.csv", _set_method(98)),
        "member 'address_insert.csv' uses compression method 98",
    ),
    "meta.csv too large": (
        # Incompressible, so that it is not refused as a zip bomb first.
        changed(
            lambda m: m.update(
                {
                    "meta.csv": m["meta.csv"]
                    + b'"Padding","'
                    + random.Random(1).randbytes(2_500_000).hex().encode()
                    + b'"\n'
                }
            )
        ),
        "meta.csv: 5,000,",
    ),
    "meta.csv with an absurdly long field": (
        changed(lambda m: m.update({"meta.csv": m["meta.csv"] + b'"Note","' + b"x" * 1000 + b'"\n'})),
        "meta.csv line 7: a field of 1,000 characters",
    ),
    "the same member twice": (
        changed(lambda m: m.update({"data/ACTIVITY_INSERT.csv": m["activity_insert.csv"]})),
        "are both activity_insert.csv",
    ),
}


@pytest.fixture
def db_with_147(db, work_dir):
    import_extract(db, EXTRACT_147, work_dir)
    return db


@pytest.mark.parametrize("case", list(CATALOGUE))
def test_a_malformed_extract_fails_clearly_and_changes_nothing(case, db_with_147, work_dir, tmp_path):
    build, message = CATALOGUE[case]
    path = build(tmp_path / "bad")
    before = table_checksums(db_with_147)
    code_before = db_with_147.execute("SELECT count(*), sum(hash(code)) FROM code").fetchone()
    with pytest.raises((ExtractError, Refusal)) as info:  # bad input, or a sound file refused (a gap)
        import_extract(db_with_147, path, work_dir)
    assert str(info.value).startswith(path.name) and message in str(info.value)
    assert table_checksums(db_with_147) == before
    assert db_with_147.execute("SELECT count(*), sum(hash(code)) FROM code").fetchone() == code_before
    number = parse_file_name(path.name)[0]
    status, error = db_with_147.execute(
        "SELECT status, error_message FROM import_jobs WHERE extract_number = $n", {"n": number}
    ).fetchone()
    assert status == "failed" and error == str(info.value)
    assert db_with_147.execute("SELECT count(*) FROM import_staging_activity").fetchone()[0] == 0
    # Nothing of the failed attempt is left in the work folder.
    assert not [p for p in work_dir.rglob("*") if p.is_file()]


def test_an_error_carries_its_file_member_and_line_as_fields(db_with_147, work_dir, tmp_path):
    path = CATALOGUE["unparseable date"][0](tmp_path / "bad")
    with pytest.raises(ExtractError) as refused:
        import_extract(db_with_147, path, work_dir)
    error = refused.value
    assert error.file == path.name and error.member and error.line and error.line > 1
    assert str(error) == f"{error.file}/{error.member} line {error.line}: {error.problem}"


def test_the_catalogue_is_at_least_fifteen_cases():
    assert len(CATALOGUE) >= 15


def test_the_corrected_file_then_applies(db_with_147, work_dir, tmp_path):
    bad = CATALOGUE["unparseable date"][0](tmp_path / "bad")
    with pytest.raises(ExtractError):
        import_extract(db_with_147, bad, work_dir)
    good = write_zip(tmp_path / "good", members_148())
    assert import_extract(db_with_147, good, work_dir).start.action == "replace"


def test_a_step_after_the_start_refuses_a_file_replaced_under_its_job(db_with_147, work_dir, tmp_path):
    """Steps read the extract again from its file: other bytes than the job began with are refused
    before anything is staged (a replacement is a new start, `kbo import` of the new file)."""
    path = write_zip(tmp_path / "landing", members_148())
    _, start = importer.prepare(db_with_147, path, work_dir=work_dir)
    write_zip(tmp_path / "landing", {**members_148(), "readme.txt": b"other bytes"})
    before = table_checksums(db_with_147)
    with pytest.raises(ExtractError, match=f"the file changed after import job {start.job_id} began"):
        importer.extract_of_job(db_with_147, path, start.job_id)
    assert table_checksums(db_with_147) == before


def test_an_unknown_harmless_member_is_ignored_with_a_warning(tmp_path):
    path = changed(lambda m: m.update({"readme.txt": b"hello"}))(tmp_path)
    assert any("ignoring unknown member 'readme.txt'" in w for w in read_extract(path).warnings)


def test_a_bad_file_name_is_refused(tmp_path):
    path = tmp_path / "extract.zip"
    path.write_bytes(EXTRACT_147.read_bytes())
    with pytest.raises(ExtractError, match="not a KBO extract name"):
        read_extract(path)


def test_monthly_and_daily_names_are_accepted():
    assert parse_file_name("KboOpenData_0137_2025_07_Full.zip") == (137, "full")
    assert parse_file_name("KboOpenData_0147_2025_10_12_Update.zip") == (147, "update")


def test_the_extract_number_is_ascii_digits_only():
    with pytest.raises(ExtractError, match="not a KBO extract name"):
        parse_file_name("KboOpenData_\u0660\u0661\u0664\u0660_2025_10_12_Update.zip")  # Arabic-Indic 0140


def test_the_declared_size_of_all_members_is_capped(db_with_147, work_dir, tmp_path, monkeypatch):
    path = write_zip(tmp_path / "bad", members_148())
    monkeypatch.setattr("kbo_pipeline.core.extract.MAX_EXTRACT_BYTES", 1_000_000)  # the real one is 16 GiB
    with pytest.raises(ExtractError, match=r"its CSVs declare [\d,]+ bytes in all, more than 1,000,000"):
        import_extract(db_with_147, path, work_dir)


def test_unpacking_refuses_without_the_disk_space_and_says_how_much(db_with_147, work_dir, tmp_path, monkeypatch):
    path = write_zip(tmp_path / "bad", members_148())
    before = table_checksums(db_with_147)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 4096, 4096))
    # A full disk is not the file's fault: a resource error (retried, the same file launched again).
    with pytest.raises(ResourceError, match=r"unpacking needs 2 MB in .*, only 4,096 bytes free") as info:
        import_extract(db_with_147, path, work_dir)
    assert str(info.value).startswith(NAME)
    assert table_checksums(db_with_147) == before
    assert db_with_147.execute(
        "SELECT status, failure_kind FROM import_jobs WHERE extract_number = 148"
    ).fetchone() == ("failed", "resource")
    assert not list(work_dir.rglob("*.csv")) and not list(work_dir.rglob("*.part"))


def test_a_bug_keeps_its_traceback_and_an_expected_error_its_message_alone():

    with pytest.raises(Failure) as expected:
        for attempt in retrying():
            with attempt:
                raise ExtractError("x.zip: meta.csv is missing")
    assert expected.value.description == "x.zip: meta.csv is missing" and expected.value.__cause__ is None
    assert not expected.value.allow_retries
    with pytest.raises(Failure) as bug:
        for attempt in retrying():
            with attempt:
                {}["missing"]
    assert bug.value.description == "KeyError: 'missing'" and isinstance(bug.value.__cause__, KeyError)


def test_transient_errors_are_tried_again_in_the_step_and_an_interrupt_is_never_swallowed():

    tries = []
    for attempt in retrying(attempts=3, first_delay=0.01):
        with attempt:
            tries.append(1)
            if len(tries) < 3:
                raise duckdb.IOException('IO Error: Could not set lock on file "x": Conflicting lock is held')
    assert len(tries) == 3
    with pytest.raises(Failure, match="still failing after 2 attempts"):
        for attempt in retrying(attempts=2, first_delay=0.01):
            with attempt:
                raise ConnectionError("reset")
    interrupted = []
    with pytest.raises(KeyboardInterrupt):  # a Terminate: it stops the step, it is not retried
        for attempt in retrying(attempts=3, first_delay=0.01):
            with attempt:
                interrupted.append(1)
                raise KeyboardInterrupt
    assert len(interrupted) == 1


def test_an_interrupt_inside_a_duckdb_statement_is_an_interrupt(tmp_path):
    """DuckDB reports a SIGINT that arrives mid-statement as an ordinary exception; the connection
    raises it on as the interrupt it is, so that Dagster stops the run instead of failing one step."""

    for interrupt in (duckdb.InterruptException("INTERRUPT Error: Interrupted!"), RuntimeError("Query interrupted")):
        with pytest.raises(KeyboardInterrupt), connect(str(tmp_path / "x.duckdb")):
            raise interrupt
    with pytest.raises(RuntimeError, match="something else"), connect(str(tmp_path / "x.duckdb")):
        raise RuntimeError("something else")


def test_values_are_bound_not_formatted(db, work_dir, samples):
    """A name that is SQL is stored as text; no statement of the importer is built from a value."""
    for path in samples[:2]:
        import_extract(db, path, work_dir)
    assert (
        db.execute(
            "SELECT count(*) FROM denomination WHERE denomination LIKE 'Robert''); DROP TABLE enterprise;--%'"
        ).fetchone()[0]
        > 0
    )
    assert db.execute("SELECT count(*) FROM enterprise").fetchone()[0] > 0


def test_an_import_lock_that_is_a_symbolic_link_is_refused_and_its_target_kept(tmp_path):
    """Suspected by the red team, confirmed: the lock truncated what its path pointed to."""
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    database = str(tmp_path / "kbo.duckdb")
    Path(database + ".import.lock").symlink_to(target)
    with pytest.raises(ConfigError, match="is a symbolic link: the import lock refuses it"):
        ImportLock(database).acquire("a test")
    assert target.read_text() == "keep me"


def test_resource_failures_while_staging_blame_nothing_in_the_file(db_with_147, work_dir, tmp_path, monkeypatch):
    """Red team 12: out of memory, a full disk or a removed work folder during staging were recorded as
    bad input, final, so the sensor never tried that good file again. They are resource errors now:
    transient (retried), recorded as failure_kind 'resource', and the same file then applies."""
    path = write_zip(tmp_path / "in", members_148())
    before = table_checksums(db_with_147)
    real_unpack = importer.unpack_job

    def folder_removed(conn, extract, work):  # the work folder goes while staging reads it
        folder = real_unpack(conn, extract, work)
        shutil.rmtree(folder)
        return folder

    monkeypatch.setattr(importer, "unpack_job", folder_removed)
    with pytest.raises(ResourceError, match=r"could not read its unpacked copy \(was the work folder removed\?\)"):
        import_extract(db_with_147, path, work_dir)
    assert table_checksums(db_with_147) == before
    assert db_with_147.execute(
        "SELECT status, failure_kind FROM import_jobs WHERE extract_number = 148"
    ).fetchone() == ("failed", "resource")
    monkeypatch.setattr(importer, "unpack_job", real_unpack)

    # Out of memory and a full disk while DuckDB reads a member, as reading() sees them; a parse error
    # stays the file's.
    extract, member = read_extract(path), read_extract(path).members[0]
    for error, words in (
        (duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block"), "out of memory"),
        (duckdb.IOException("IO Error: No space left on device"), "the disk is full"),
    ):
        with pytest.raises(ResourceError, match=words), staging.reading(extract, member):
            raise error
    with pytest.raises(ExtractError), staging.reading(extract, member):
        raise duckdb.ConversionException("Conversion Error: CSV Error on Line: 3")
    assert issubclass(ResourceError, TransientError)
    assert import_extract(db_with_147, path, work_dir).final is not None  # the same file, applied
    assert db_with_147.execute(
        "SELECT status, failure_kind FROM import_jobs WHERE extract_number = 148"
    ).fetchone() == ("completed", None)


def attempts_made(error: Exception) -> tuple[int, str]:
    """How often `retrying` ran a body that raises `error`, and the step's failure message."""
    attempts = []
    with pytest.raises(Failure) as failed:
        for attempt in retrying(attempts=3, first_delay=0.001):
            with attempt:
                attempts.append(1)
                raise error
    return len(attempts), failed.value.description


def test_an_unreachable_portal_is_retried_and_a_refusal_is_not():
    """Issue 22's bug: PortalUnreachable subclassed the final PortalError, so `retrying` never retried it."""
    tries, message = attempts_made(PortalUnreachable("the portal could not be reached: timed out"))
    assert tries == 3 and "still failing after 3 attempts" in message
    assert attempts_made(PortalRefused("bad credentials")) == (1, "bad credentials")
    assert issubclass(PortalUnreachable, PortalError) and issubclass(PortalRefused, PortalError)
