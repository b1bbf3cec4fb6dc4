"""DDL from sql/, with identifiers filled in from the entity spec (never values)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

from .entities import ENTITIES, Entity

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def sql_text(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def render(name: str, entity: Entity | None = None, **identifiers: str) -> str:
    """sql/<name> with {table}, {staging_table}, {key} and {columns} from the spec."""
    if entity is not None:
        identifiers = {
            "table": entity.table,
            "staging_table": entity.staging_table,
            "key": entity.key,
            "columns": ", ".join(c.name for c in entity.columns),
            **identifiers,
        }
    return sql_text(name).format(**identifiers)


def _column_definitions(columns) -> str:
    return ",\n    ".join(f"{c.name} {c.type}" for c in columns)


def create_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create every table the importer uses; safe to run on an existing database."""
    conn.execute(sql_text("ledger.sql"))
    conn.execute(sql_text("code_table.sql"))
    for entity in ENTITIES:
        conn.execute(render("entity_table.sql", entity, columns=_column_definitions(entity.table_columns)))
        conn.execute(render("staging_table.sql", entity, columns=_column_definitions(entity.columns)))
        conn.execute(render("history_views.sql", entity))
    parts = [render("entity_history_part.sql", e, references=", ".join(e.references)) for e in ENTITIES]
    conn.execute(render("entity_history.sql", selects="UNION ALL\n".join(parts)))
