"""The SQL templates of sql/ (shipped as kbo_pipeline.sql), with identifiers filled in from the entity
spec: table, column and key names only. Values are never formatted in: they are bound parameters."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from kbo_pipeline.core.entities import Entity

SQL = files("kbo_pipeline.sql")


@cache
def sql_text(name: str) -> str:
    """sql/<name> as it is, e.g. `checks/scope.sql`."""
    return SQL.joinpath(*name.split("/")).read_text(encoding="utf-8")


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
