"""Real files' quirks that are not errors: the same content encoded otherwise is the same extract. Each
quirk is added to the real extract 147, and the database must end exactly as after the clean file."""

import re

import pytest

from kbo_pipeline.core.database import connect
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline_tests.support.files import rewritten
from kbo_pipeline_tests.support.tables import table_checksums


def crlf_and_bom(name, data):
    return name, b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")


def upper_case_names(name, data):
    return name.upper(), data


def dates_in_quotes(name, data):
    return name, re.sub(rb"(?<=,)(\d\d-\d\d-\d\d\d\d)(?=[,\n])", rb'"\1"', data)


def blank_lines_at_the_end(name, data):
    return name, data + b"\n\n"


def deletes_of_unknown_keys(name, data):
    if name == "enterprise_delete.csv":
        return name, data + b'"0999.999.999"\n'
    if name == "activity_delete.csv":
        return name, data + b'"9.999.999.999"\n'
    return name, data


def deletes_listed_twice(name, data):
    if name.endswith("_delete.csv") and data.count(b"\n") > 1:
        return name, data + data.split(b"\n")[1] + b"\n"
    return name, data


QUIRKS = {
    "CRLF line ends and a UTF-8 BOM": crlf_and_bom,
    "member names in upper case": upper_case_names,
    "dates in quotes": dates_in_quotes,
    "blank lines at the end of every file": blank_lines_at_the_end,
    "deletes of keys that exist nowhere": deletes_of_unknown_keys,
    "a key listed twice in a delete file": deletes_listed_twice,
}


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_a_quirk_of_encoding_changes_nothing(quirk, clean_147, tmp_path):
    path = rewritten(tmp_path / "landing", QUIRKS[quirk])
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        result = import_extract(conn, path, tmp_path / "work")
        assert result.final is not None
        assert table_checksums(conn) == clean_147


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_a_full_with_the_same_quirk_changes_nothing_either(quirk, samples, tmp_path):
    with connect(str(tmp_path / "clean.duckdb")) as conn:
        import_extract(conn, samples[0], tmp_path / "work-clean")
        expected = table_checksums(conn)
    path = rewritten(tmp_path / "landing", QUIRKS[quirk], samples[0])
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        import_extract(conn, path, tmp_path / "work")
        assert table_checksums(conn) == expected
