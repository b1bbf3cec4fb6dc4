"""Versioned migrations: what brings a database made by an earlier release up to this one's schema.

The database records its schema version (import_schema_version). Opening it for writing applies, in
order and each in its own transaction, every step newer than that version, then the DDL of sql/ (its
CREATE ... IF NOT EXISTS and the views and macros, replaced). A database whose version is newer than
this code's is refused: an older kbo must not write a schema it does not know.

Version 0 is a database from before versioning (or a new, empty one). Append steps; never change or
reorder a released one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from kbo_pipeline.core.database import transaction
from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.core.ledger import has_table
from kbo_pipeline.errors import FinalError


class SchemaTooNew(FinalError):
    """The database was migrated by a newer kbo than this one."""


def _table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = $table "
            "AND database_name = current_database() AND schema_name = current_schema()",
            {"table": table},
        ).fetchall()
    }


def add_spec_columns(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Every column of the entity spec an existing entity or staging table lacks is added (CREATE TABLE IF
    NOT EXISTS never changes a table that exists); a derived column is back-filled from its expression."""
    done = []
    for entity in ENTITIES:
        for table, columns in ((entity.table, entity.table_columns), (entity.staging_table, entity.columns)):
            present = _table_columns(conn, table)
            if not present:
                continue  # not created yet: the DDL creates it whole
            for column in (c for c in columns if c.name not in present):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} {column.type}")
                if column.expression and table == entity.table:
                    conn.execute(f"UPDATE {table} SET {column.name} = {column.expression}")
                done.append(f"{table}.{column.name} added")
    return done


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the entity spec's columns added to tables made before them", add_spec_columns),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The database's schema version; 0 before versioning (or for an empty database)."""
    if not has_table(conn, "import_schema_version"):
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM import_schema_version").fetchone()[0]


def migrate(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every step newer than the database's version, each with its version row in one transaction;
    what was done, one line per step (empty when the database is current)."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the database's schema is version {current}, newer than this kbo's ({SCHEMA_VERSION}): "
            "upgrade kbo-pipeline before writing to it"
        )
    said = []
    conn.execute("CREATE TABLE IF NOT EXISTS import_schema_version (version INTEGER, migrated_at TIMESTAMP)")
    for step in (m for m in MIGRATIONS if m.version > current):
        with transaction(conn):
            changes = step.apply(conn)
            conn.execute(
                "INSERT INTO import_schema_version VALUES ($version, current_timestamp)", {"version": step.version}
            )
        said.append(
            f"schema migrated to version {step.version} ({step.description})"
            + (f": {', '.join(changes)}" if changes else ": nothing to change")
        )
    return said
