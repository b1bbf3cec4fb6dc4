"""An independent replay of extracts in plain Python: the CSVs parsed with the csv module and the
official update semantics applied to lists of dicts. The importer's result must equal it.

It shares with the importer only the column names of the schema (the contract), not its logic.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime
from pathlib import Path

from kbo_pipeline.core.entities import ENTITIES

HISTORY = ("_snapshot_date", "_extract_number", "_is_current", "_deleted_at_extract")
LANGUAGE_ORDER = ["2", "1", "0", "3", "4"]
KEYS = {"enterprise": "EnterpriseNumber", "establishment": "EstablishmentNumber", "branch": "Id"}


def _value(text: str, is_date: bool):
    if text == "":
        return None
    return datetime.strptime(text, "%d-%m-%Y").date() if is_date else text


def read_csv_member(zf: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    with zf.open(name) as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")))


class Replay:
    def __init__(self):
        self.tables: dict[str, list[dict]] = {e.table: [] for e in ENTITIES}
        self.code: list[tuple] = []

    def apply(self, path: Path) -> int:
        with zipfile.ZipFile(path) as zf:
            names = {n.lower(): n for n in zf.namelist()}
            meta = {r["Variable"]: r["Value"] for r in read_csv_member(zf, names["meta.csv"])}
            number = int(meta["ExtractNumber"])
            snapshot = datetime.strptime(meta["SnapshotDate"], "%d-%m-%Y").date()
            full = meta["ExtractType"] == "full"
            self.code = [tuple(r.values()) for r in read_csv_member(zf, names["code.csv"])]
            touched = set()
            for entity in ENTITIES:
                rows = self.tables[entity.table]
                key_header = KEYS.get(entity.table, "EntityNumber")
                key_column = next(c.name for c in entity.columns if c.csv == key_header)
                if not full:
                    doomed = {r[key_header] for r in read_csv_member(zf, names[f"{entity.table}_delete.csv"])}
                    touched |= doomed if entity.table in ("enterprise", "denomination") else set()
                    for row in rows:
                        if row["_is_current"] and row[key_column] in doomed:
                            row["_is_current"] = False
                            row["_deleted_at_extract"] = number
                member = f"{entity.table}.csv" if full else f"{entity.table}_insert.csv"
                for record in read_csv_member(zf, names[member]):
                    row = {c.name: _value(record[c.csv], c.type == "DATE") for c in entity.columns if c.csv}
                    if entity.table == "activity":
                        parts = [row[k] for k in ("entity_number", "activity_group", "nace_version", "nace_code")]
                        row["id"] = None if None in parts else "_".join(parts)
                    if entity.table == "enterprise":
                        row.update(
                            primary_name=None,
                            primary_name_language=None,
                            primary_name_nl=None,
                            primary_name_fr=None,
                            primary_name_de=None,
                        )
                    if entity.table in ("enterprise", "denomination"):
                        touched.add(row["entity_number"])
                    row.update(
                        _snapshot_date=snapshot, _extract_number=number, _is_current=True, _deleted_at_extract=None
                    )
                    rows.append(row)
            self._resolve_names(touched)
        return number

    def _resolve_names(self, touched: set[str]) -> None:
        legal: dict[str, dict[str, list[str]]] = {}
        for d in self.tables["denomination"]:
            if d["_is_current"] and d["type_of_denomination"] == "001" and d["entity_number"] in touched:
                legal.setdefault(d["entity_number"], {}).setdefault(d["language"], []).append(d["denomination"])
        for e in self.tables["enterprise"]:
            if not e["_is_current"] or e["entity_number"] not in touched:
                continue
            names = {lang: max(values) for lang, values in legal.get(e["entity_number"], {}).items()}
            first = next((lang for lang in LANGUAGE_ORDER if lang in names), None)
            e["primary_name"] = names[first] if first else e["entity_number"]
            e["primary_name_language"] = first
            e["primary_name_nl"], e["primary_name_fr"], e["primary_name_de"] = (
                names.get("2"),
                names.get("1"),
                names.get("3"),
            )

    def rows(self, table: str, as_of: int | None = None, current_only: bool = False) -> list[tuple]:
        entity = next(e for e in ENTITIES if e.table == table)
        columns = [c.name for c in entity.table_columns] + list(HISTORY)
        selected = []
        for row in self.tables[table]:
            if current_only and not row["_is_current"]:
                continue
            if as_of is not None and not (
                row["_extract_number"] <= as_of
                and (row["_deleted_at_extract"] is None or row["_deleted_at_extract"] > as_of)
            ):
                continue
            selected.append(tuple(row[c] for c in columns))
        return sorted(selected, key=repr)


def database_rows(conn, table: str, where: str = "true", params: dict | None = None) -> list[tuple]:
    entity = next(e for e in ENTITIES if e.table == table)
    columns = [c.name for c in entity.table_columns] + list(HISTORY)
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where}", params or {}).fetchall()
    return sorted(rows, key=repr)


AS_OF = "_extract_number <= $k AND (_deleted_at_extract IS NULL OR _deleted_at_extract > $k)"


def assert_equals_replay(conn, paths) -> Replay:
    """Every row of every entity table (history included) equals the replay of `paths`."""
    replay = Replay()
    for path in paths:
        replay.apply(path)
    for entity in ENTITIES:
        assert database_rows(conn, entity.table) == replay.rows(entity.table), entity.table
    return replay
