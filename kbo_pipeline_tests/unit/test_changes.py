"""The change set of an extract (changes_in, change_summary) against an independent computation from
the replay, and the real extract 147: as the first extract, and re-delivered over its own state."""

import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

from kbo_pipeline.core.entities import ENTITIES, ENTITY_BY_TABLE, TABLES
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline_tests.support.files import EXTRACT_147, KEYS_147, ROWS_147
from kbo_pipeline_tests.support.replay import Replay

SUMMARY = "SELECT * EXCLUDE (enterprises) FROM change_summary($k)"


NAMES = [c.name for c in ENTITY_BY_TABLE["enterprise"].finalized]
KINDS = ("new", "stopped", "changed", "unchanged", "renamed")


def current_names(replay: Replay) -> dict[str, tuple]:
    """Each current enterprise's names and the extract that added its row."""
    return {
        e["entity_number"]: (e["_extract_number"], tuple(e[n] for n in NAMES))
        for e in replay.tables["enterprise"]
        if e["_is_current"]
    }


def renamed_by(before: dict[str, tuple], after: dict[str, tuple], k: int) -> set[str]:
    """Enterprises whose row k did not deliver again but whose names it changed (its denominations)."""
    return {n for n, (added_by, names) in after.items() if added_by < k and n in before and before[n][1] != names}


def expected_summary(replay: Replay, k: int, renamed: set[str] = frozenset()) -> list[tuple]:
    """Per table: rows added and retired by k, and its keys by kind, from the replay's rows alone; a
    renamed enterprise is one row retired and one added."""
    summary = []
    for entity in ENTITIES:
        rows = replay.tables[entity.table]
        csv_columns = [c.name for c in entity.columns]
        added, retired, earlier = {}, {}, set()
        for row in rows:
            values = tuple(row[c] for c in csv_columns)
            if row["_extract_number"] == k:
                added.setdefault(row[entity.key], Counter())[values] += 1
            elif row["_extract_number"] < k:
                earlier.add(row[entity.key])
            if row["_deleted_at_extract"] == k:
                retired.setdefault(row[entity.key], Counter())[values] += 1
        kinds = Counter()
        for key in added.keys() | retired.keys():
            if key not in retired and key not in earlier:
                kinds["new"] += 1
            elif key not in added:
                kinds["stopped"] += 1
            elif added[key] == retired[key]:
                kinds["unchanged"] += 1
            else:
                kinds["changed"] += 1
        extra = len(renamed) if entity.finalized else 0
        kinds["renamed"] = extra
        summary.append(
            (
                entity.table,
                sum(sum(c.values()) for c in added.values()) + extra,
                sum(sum(c.values()) for c in retired.values()) + extra,
                *(kinds[kind] for kind in KINDS),
            )
        )
    return summary


def test_the_change_summary_of_every_extract_equals_the_replay(db, work_dir, samples):
    replay = Replay()
    numbers, renamed = [], {}
    for path in samples:
        import_extract(db, path, work_dir)
        before = current_names(replay)
        numbers.append(replay.apply(path))
        renamed[numbers[-1]] = renamed_by(before, current_names(replay), numbers[-1])
    seen = Counter()
    for k in numbers:
        got = db.execute(SUMMARY, {"k": k}).fetchall()
        assert got == expected_summary(replay, k, renamed[k]), k
        for row in got:
            seen.update(dict(zip(KINDS, row[3:], strict=True)))
    assert all(seen[kind] > 0 for kind in KINDS), seen


def test_changes_in_lists_every_added_and_retired_row_once(db, work_dir, samples):
    for path in samples[:3]:
        import_extract(db, path, work_dir)
    for table in TABLES:
        in_table = db.execute(
            f"SELECT count(*) FILTER (WHERE _extract_number = 142), count(*) FILTER (WHERE _deleted_at_extract = 142) "
            f"FROM {table}"
        ).fetchone()
        if table == "enterprise":  # and each renamed enterprise: retired with its old names, added with new
            renamed = db.execute("SELECT count(*) FROM import_name_changes WHERE extract_number = 142").fetchone()[0]
            in_table = (in_table[0] + renamed, in_table[1] + renamed)
        listed = db.execute(
            "SELECT count(*) FILTER (WHERE change = 'added'), count(*) FILTER (WHERE change = 'retired') "
            "FROM changes_in(142) WHERE table_name = $t",
            {"t": table},
        ).fetchone()
        assert listed == in_table, table
    # Every row belongs to an enterprise: an establishment's rows to the establishment's enterprise.
    orphans = db.execute(
        "SELECT count(*) FROM changes_in(142) c WHERE c.enterprise_number NOT IN (SELECT entity_number FROM enterprise)"
    ).fetchone()[0]
    assert orphans == 0
    est = db.execute(
        "SELECT c.enterprise_number, e.enterprise_number FROM changes_in_address(142) c "
        "JOIN establishment e ON e.establishment_number = c.entity_number LIMIT 1"
    ).fetchall()
    assert all(a == b for a, b in est)


def test_extract_147_as_the_first_extract_is_all_new(db, work_dir):
    import_extract(db, EXTRACT_147, work_dir)
    assert db.execute(SUMMARY, {"k": 147}).fetchall() == [
        (t, ROWS_147[t], 0, KEYS_147[t], 0, 0, 0, 0)
        for t in TABLES  # added, retired; new, stopped, changed, unchanged, renamed
    ]


def redelivery_148(folder: Path) -> Path:
    """Extract 147's rows delivered again as extract 148, the way the register re-delivers an entity:
    every key of an insert file listed in the delete file too, and the same rows inserted."""
    with zipfile.ZipFile(EXTRACT_147) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["meta.csv"] = members["meta.csv"].replace(b'"147"', b'"148"')
    for entity in ENTITIES:
        rows = list(csv.DictReader(io.StringIO(members[entity.insert_member].decode("utf-8"))))
        keys = dict.fromkeys(row[entity.key_csv] for row in rows)
        members[entity.delete_member] = "".join(f'"{k}"\n' for k in [entity.key_csv, *keys]).encode()
    path = folder / "KboOpenData_0148_2025_10_13_Update.zip"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extract_147_delivered_again_is_all_unchanged_re_deliveries(db, work_dir, tmp_path):
    import_extract(db, EXTRACT_147, work_dir)
    import_extract(db, redelivery_148(tmp_path / "in"), work_dir)
    assert db.execute(SUMMARY, {"k": 148}).fetchall() == [
        (t, ROWS_147[t], ROWS_147[t], 0, 0, 0, KEYS_147[t], 0) for t in TABLES
    ]
    assert db.execute("SELECT count(*) FROM changes_in(148) WHERE kind <> 'unchanged'").fetchone()[0] == 0
