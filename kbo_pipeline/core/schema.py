"""The database schema: every table, view and macro the importer uses, created from the DDL in sql/."""

from __future__ import annotations

import hashlib
from functools import cache

import duckdb

from kbo_pipeline.core.entities import ENTITIES, Entity
from kbo_pipeline.core.migrations import SCHEMA_VERSION, migrate, schema_version
from kbo_pipeline.core.primary_names import name_changes_table
from kbo_pipeline.core.templates import render, sql_text


def _column_definitions(columns) -> str:
    return ",\n    ".join(f"{c.name} {c.type}" for c in columns)


def staging_table_sql(entity: Entity, name: str | None = None, create: str = "CREATE TABLE IF NOT EXISTS") -> str:
    """DDL of a table shaped like the entity's staging table: the staging table itself, or (`name`,
    `create`) a temporary one with the same columns."""
    return render(
        "staging_table.sql",
        entity,
        create=create,
        staging_table=name or entity.staging_table,
        columns=_column_definitions(entity.columns),
    )


@cache
def _schema_statements() -> tuple[str, ...]:
    statements = [sql_text("ledger.sql"), sql_text("code_table.sql"), name_changes_table()]
    for entity in ENTITIES:
        statements.append(render("entity_table.sql", entity, columns=_column_definitions(entity.table_columns)))
        statements.append(staging_table_sql(entity))
        statements.append(render("history_views.sql", entity))
    parts = [render("entity_history_part.sql", e, references=", ".join(e.references)) for e in ENTITIES]
    statements.append(render("entity_history.sql", selects="UNION ALL\n".join(parts)))
    statements += [_changes_in_table(e) for e in ENTITIES]
    changes = [
        render("changes_part.sql", e, position=str(i), row_columns=", ".join(e.published_columns))
        for i, e in enumerate(ENTITIES)
    ]
    tables = ", ".join(f"('{e.table}', {i})" for i, e in enumerate(ENTITIES))
    statements.append(render("changes.sql", selects="UNION ALL\n".join(changes), tables=tables))
    return tuple(statements)


def _renamed_parts(entity: Entity) -> dict[str, str]:
    """For the table whose finalized columns are updated in place (the enterprise's names): the rows
    of the keys whose names extract k changed, retired with the old names and added with the new, as
    kind 'renamed' (import_name_changes). Empty for the other tables."""
    if not entity.finalized:
        return {"renamed_rows": "", "renamed_keys": "", "renamed_kind": "", "renamed_key_union": ""}
    replaced = ",\n        ".join(
        f"CASE c.change WHEN 'added' THEN n.new_{col.name} ELSE n.old_{col.name} END AS {col.name}"
        for col in entity.finalized
    )
    return {
        "renamed_rows": render("changes_renamed.sql", entity, replaced=replaced).rstrip("\n"),
        "renamed_keys": f"\nrenamed AS (SELECT {entity.key} AS renamed_key FROM import_name_changes WHERE extract_number = k),",
        "renamed_kind": "\n               WHEN per_key.change_key IN (SELECT renamed_key FROM renamed) THEN 'renamed'",
        "renamed_key_union": f"\nUNION\nSELECT {entity.key} FROM import_name_changes WHERE extract_number = k",
    }


def is_establishment_number(column: str) -> str:
    """SQL: `column` has the form of an establishment number (2.000.000.339, a digit then a dot), which
    an enterprise number (0200.065.765) never has (docs/extract-format.md)."""
    return f"substr({column}, 2, 1) = '.'"


def reaches_enterprise_through_establishment(entity: Entity) -> bool:
    """Its rows hang off an entity number that may be an establishment's (whose enterprise is looked up)."""
    return entity.table != "enterprise" and "enterprise_number" not in {c.name for c in entity.columns}


def _changes_in_table(entity: Entity) -> str:
    """changes_in_<table>(k) and its parts: the enterprise a row belongs to is its enterprise_number
    column, or its own number; a child row of an establishment belongs to that establishment's
    enterprise."""
    parts = {"enterprise": "", "establishments": "", "establishment_join": ""}
    if entity.table == "enterprise":
        parts["enterprise"] = f"t.{entity.key} AS enterprise_number, "
    first = render("first_changes.sql", entity, enterprise=parts["enterprise"])
    if reaches_enterprise_through_establishment(entity):
        touched = render(
            "changes_establishments.sql", which="\n    WHERE establishment_number IN (SELECT unnest(keys))"
        )
        parts = {
            "enterprise": f"coalesce(e.enterprise_number, t.{entity.key}) AS enterprise_number, ",
            "establishments": ",\n" + touched.rstrip("\n"),
            "establishment_join": f"\nLEFT JOIN establishments e ON e.establishment_number = t.{entity.key}",
        }
        every = render("changes_establishments.sql", which="").rstrip("\n").replace("\n", "\n    ")
        first = render(
            "first_changes_establishments.sql",
            entity,
            establishments=every,
            is_establishment=is_establishment_number(f"t.{entity.key}"),
        )
    parts |= _renamed_parts(entity)
    return render(
        "changes_table.sql",
        entity,
        compared=", ".join(c.name for c in entity.columns),
        first_changes=first.rstrip("\n"),
        **parts,
    )


@cache
def schema_fingerprint() -> str:
    return hashlib.sha256("\n".join(_schema_statements()).encode()).hexdigest()[:16]


def create_schema(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every table the importer uses, migrating a database made by an earlier release first
    (core/migrations.py); safe to run on an existing database. Returns what was migrated. A database
    whose `import_schema` fingerprint matches this DDL, at this schema version, is left alone: running
    the DDL costs 50-80 ms (its views and macros are replaced), and every run needs the schema three
    times."""
    if conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'import_schema' "
        "AND database_name = current_database() AND schema_name = current_schema()"
    ).fetchone()[0]:
        stored = conn.execute("SELECT max(fingerprint) FROM import_schema").fetchone()[0]
        if stored == schema_fingerprint() and schema_version(conn) == SCHEMA_VERSION:
            return []
    migrated = migrate(conn)
    for statement in _schema_statements():
        conn.execute(statement)
    conn.execute(
        "CREATE OR REPLACE TABLE import_schema AS SELECT $fingerprint AS fingerprint",
        {"fingerprint": schema_fingerprint()},
    )
    return migrated
