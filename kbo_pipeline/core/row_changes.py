"""Changing rows of an entity table in place or by moving them, in the caller's transaction: the
retirement of a delete batch, the primary names of renamed enterprises.

A few rows are moved: deleted where they are and appended, changed, at the table's end. DuckDB keeps
a table in row groups of 122,880 rows compressed column by column, and the checkpoint after an UPDATE
rewrites the whole changed column of every row group the UPDATE touched. A daily update retires a few
hundred rows scattered over the whole register: updated in place, they had `_is_current` and
`_deleted_at_extract` rewritten in nearly every row group of every table, and the names of a hundred
renamed enterprises had all five name columns of the enterprise table rewritten, more than the rest of
the update's database work (BENCHMARKS.md, issue 19). A delete is a mark in its row group and the
appended rows are new: the checkpoint writes what changed. The rows an extract retired or renamed also
end up beside the rows it inserted, at the table's end, where the row groups' min/max of
`_deleted_at_extract` and `_extract_number` find them without reading the rest of the table (the data
checks, the change set, the names).

Many rows are updated in place: each moved row is copied, and once the deletions since the last
checkpoint reach about 1 % of a table DuckDB's checkpoint compacts its row groups, rewriting them whole
(2.9 s for 380,000 activity rows, where the UPDATE's checkpoint cost 0.7 s).

Either way the table holds the same rows; only their physical order differs.
"""

import duckdb

from kbo_pipeline.core.entities import Entity
from kbo_pipeline.core.templates import render

# Rows changed at once up to which they are moved rather than updated in place: a daily update's
# batches are well below (at most a few thousand rows), a huge update's or a reconciled Full's above.
MOVE_AT_MOST = 10_000


def change_rows(
    conn: duckdb.DuckDBPyConnection, entity: Entity, changed_rows: str, params: dict, columns: tuple[str, ...]
) -> int:
    """`changed_rows`: a query over entity's table giving, for each row to change, its rowid as
    `changed_row` and the new values of `columns`. Those rows are changed (moved or updated in place,
    see above); returns how many. The rows are found by that narrow query, then read whole by rowid: a
    query that read them whole while looking for them read every column of the table (0.34 s against
    0.08 s for activity)."""
    conn.execute(render("changed_rows.sql", entity, changed_rows=changed_rows), params)
    changed = conn.execute("SELECT count(*) FROM changed_rows").fetchone()[0]
    if changed <= MOVE_AT_MOST:
        replacements = ", ".join(f"changed.{column} AS {column}" for column in columns)
        conn.execute(render("changed_rows_append.sql", entity, replacements=replacements))
        conn.execute(render("changed_rows_delete.sql", entity))
    else:
        assignments = ", ".join(f"{column} = changed.{column}" for column in columns)
        conn.execute(render("changed_rows_update.sql", entity, assignments=assignments))
    conn.execute("DROP TABLE changed_rows")
    return int(changed)
