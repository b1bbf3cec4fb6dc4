"""DDL from sql/, with identifiers filled in from the entity spec (never values)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import duckdb

from kbo_pipeline.core.entities import ENTITIES, Entity

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


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


@cache
def _schema_statements() -> tuple[str, ...]:
    statements = [sql_text("ledger.sql"), sql_text("code_table.sql")]
    for entity in ENTITIES:
        statements.append(render("entity_table.sql", entity, columns=_column_definitions(entity.table_columns)))
        statements.append(render("staging_table.sql", entity, columns=_column_definitions(entity.columns)))
        statements.append(render("history_views.sql", entity))
    parts = [render("entity_history_part.sql", e, references=", ".join(e.references)) for e in ENTITIES]
    statements.append(render("entity_history.sql", selects="UNION ALL\n".join(parts)))
    return tuple(statements)


@cache
def schema_fingerprint() -> str:
    return hashlib.sha256("\n".join(_schema_statements()).encode()).hexdigest()[:16]


def create_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create every table the importer uses; safe to run on an existing database. A database whose
    `import_schema` fingerprint matches this DDL is left alone: running the DDL costs 50-80 ms (its
    views and macros are replaced), and every run needs the schema three times."""
    if conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'import_schema' "
        "AND database_name = current_database() AND schema_name = current_schema()"
    ).fetchone()[0]:
        stored = conn.execute("SELECT max(fingerprint) FROM import_schema").fetchone()[0]
        if stored == schema_fingerprint():
            return
    for statement in _schema_statements():
        conn.execute(statement)
    conn.execute("CREATE OR REPLACE TABLE import_schema AS SELECT $fingerprint AS fingerprint",
                 {"fingerprint": schema_fingerprint()})
