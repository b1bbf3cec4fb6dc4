"""Primary names of enterprises (rule in docs/extract-format.md), recomputed for those an extract touched.

The names are the enterprise's finalized columns, changed on its current row (core/row_changes.py).
Where an extract changes them without adding an enterprise row (a denomination changed), the change is
recorded in import_name_changes, so that the extract's change set carries it (changes_in_enterprise,
'renamed').
"""

import duckdb

from kbo_pipeline.core.entities import ENTITY_BY_TABLE
from kbo_pipeline.core.row_changes import change_rows
from kbo_pipeline.core.templates import render, sql_text

NAMED = ENTITY_BY_TABLE["enterprise"]  # the entity whose finalized columns are its names
FINALIZED = tuple(c.name for c in NAMED.finalized)
OLD_AND_NEW = tuple(f"{side}_{name}" for side in ("old", "new") for name in FINALIZED)  # import_name_changes


def mark_touched(conn: duckdb.DuckDBPyConnection, extract_number: int) -> None:
    """Remember which enterprises extract N touched (before a rollback removes the evidence)."""
    conn.execute(sql_text("touched_enterprises.sql"), {"extract": extract_number})


def name_changes_table() -> str:
    columns = [f"{side}_{c.name} {c.type}" for side in ("old", "new") for c in NAMED.finalized]
    return render("name_changes_table.sql", NAMED, columns=",\n    ".join(columns))


def _differs(row: str) -> str:
    """SQL: `row`'s names differ from the computed ones (touched_names AS names)."""
    return " OR ".join(f"{row}.{name} IS DISTINCT FROM names.{name}" for name in FINALIZED)


def _rename(conn: duckdb.DuckDBPyConnection, recorded_as: int | None) -> int:
    """The computed names (touched_names) onto the current rows they change; with `recorded_as`, those
    changes recorded as that extract's (import_name_changes). Returns the rows changed."""
    read = ", ".join(
        [f"e.{name} AS old_{name}" for name in FINALIZED] + [f"names.{name} AS new_{name}" for name in FINALIZED]
    )
    conn.execute(render("renamed_enterprises.sql", NAMED, old_and_new=read, differs=_differs("e")))
    if recorded_as is not None:
        conn.execute(render("name_changes.sql", NAMED, old_and_new=", ".join(OLD_AND_NEW)), {"extract": recorded_as})
    new_names = ", ".join(f"new_{name} AS {name}" for name in FINALIZED)
    renamed = change_rows(conn, NAMED, f"SELECT changed_row, {new_names} FROM renamed_enterprises", {}, FINALIZED)
    conn.execute("DROP TABLE renamed_enterprises")
    return renamed


def insert_named(conn: duckdb.DuckDBPyConnection, job_id: int, snapshot_date, extract_number: int) -> int:
    """A first Full's staged enterprise rows into the enterprise table with their primary names, computed
    from the denominations already in the database; returns the rows inserted, every one named."""
    conn.execute(render("touched_staged.sql", NAMED), {"job_id": job_id})
    conn.execute(sql_text("primary_names.sql"))
    sql = render(
        "load_named_rows.sql",
        NAMED,
        named=", ".join(FINALIZED),
        names=", ".join(f"names.{name}" for name in FINALIZED),
        staged=", ".join(f"s.{c.name}" for c in NAMED.columns),
    )
    params = {"job_id": job_id, "snapshot_date": snapshot_date, "extract_number": extract_number}
    rows = conn.execute(sql, params).fetchone()[0]
    _drop_touched(conn)
    return int(rows)


def forget_name_changes(conn: duckdb.DuckDBPyConnection, extract_number: int) -> None:
    conn.execute("DELETE FROM import_name_changes WHERE extract_number = $extract", {"extract": extract_number})


def resolve_touched(conn: duckdb.DuckDBPyConnection, recorded_as: int | None = None) -> int:
    """Recompute the names of the enterprises marked touched; returns how many rows were updated. With
    `recorded_as` (an extract being applied, not a rollback), the in-place changes are recorded as that
    extract's."""
    conn.execute(sql_text("primary_names.sql"))
    updated = _rename(conn, recorded_as)
    _drop_touched(conn)
    return updated


def _drop_touched(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("DROP TABLE touched_enterprises")
    conn.execute("DROP TABLE touched_names")
