"""Primary names of enterprises (rule in docs/extract-format.md), recomputed for those an extract touched."""

import duckdb

from kbo_pipeline.core.templates import sql_text


def mark_touched(conn: duckdb.DuckDBPyConnection, extract_number: int) -> None:
    """Remember which enterprises extract N touched (before a rollback removes the evidence)."""
    conn.execute(sql_text("touched_enterprises.sql"), {"extract": extract_number})


def resolve_touched(conn: duckdb.DuckDBPyConnection) -> int:
    """Recompute the names of the enterprises marked touched; returns how many rows were updated."""
    updated = conn.execute(sql_text("primary_names.sql")).fetchone()[0]
    conn.execute("DROP TABLE touched_enterprises")
    conn.execute("DROP TABLE touched_names")
    return int(updated)
