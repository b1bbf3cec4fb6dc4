"""A Full written from a database's current state, to reconcile against (optionally changed first)."""

from datetime import date, datetime

from kbo_pipeline.core.entities import ENTITIES
from kbo_pipeline.dev.sample import code_csv, entity_csv, meta_csv, write_zip


def current_state(conn) -> dict[str, list[dict]]:
    state = {}
    for entity in ENTITIES:
        names = [c.name for c in entity.columns]
        rows = conn.execute(f"SELECT {', '.join(names)} FROM {entity.table} WHERE _is_current").fetchall()
        state[entity.table] = [dict(zip(names, row, strict=False)) for row in rows]
    return state


def full_zip(folder, number: int, state: dict[str, list[dict]]):
    members = {
        "meta.csv": meta_csv(number, "full", date(2025, 11, 1), datetime(2025, 11, 2, 7, 0, 0)),
        "code.csv": code_csv(),
    }
    for entity in ENTITIES:
        members[entity.full_member] = entity_csv(entity.table, state[entity.table])
    return write_zip(folder / f"KboOpenData_{number:04d}_2025_11_02_Full.zip", members)
