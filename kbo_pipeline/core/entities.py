"""The seven KBO entity tables (and the code table), described once.

Everything per entity (DDL, CSV reading, staging, batch SQL, the replay in the tests) is generated
from this spec: it is the only place that names a CSV column, a table column, a key or a type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Column:
    name: str  # column in DuckDB (snake_case)
    csv: str | None = None  # header in the CSV; None for a derived column
    type: str = "VARCHAR"
    expression: str | None = None  # SQL over other columns, for a derived column filled at staging


@dataclass(frozen=True)
class Entity:
    table: str
    columns: tuple[Column, ...]
    key: str  # column whose value a `_delete` file lists
    finalized: tuple[Column, ...] = ()  # filled at finalize (primary names), not from the CSV

    @property
    def csv_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.csv is not None)

    @property
    def key_csv(self) -> str:
        return next(c.csv for c in self.columns if c.name == self.key)

    @property
    def one_row_per_key(self) -> bool:
        """At most one current row per key (the others hang several rows off an entity number)."""
        return self.table in UNIQUE_KEY_TABLES

    @property
    def staging_table(self) -> str:
        return f"import_staging_{self.table}"

    @property
    def insert_member(self) -> str:
        return f"{self.table}_insert.csv"

    @property
    def delete_member(self) -> str:
        return f"{self.table}_delete.csv"

    @property
    def full_member(self) -> str:
        return f"{self.table}.csv"

    @property
    def references(self) -> tuple[str, ...]:
        """Columns that hold an enterprise or establishment number (or the branch's own id)."""
        named = tuple(c.name for c in self.columns if c.name in ENTITY_NUMBER_COLUMNS)
        return named if self.key in named else (self.key, *named)

    @property
    def published_columns(self) -> tuple[str, ...]:
        """What the change set and the exports show of a row: its columns and the extract (and snapshot
        date) that added it; whether it is current, and when it was retired, change later."""
        return (*(c.name for c in self.table_columns), "_snapshot_date", "_extract_number")

    @property
    def table_columns(self) -> tuple[Column, ...]:
        """Columns of the entity table, in contract order (history columns excluded)."""
        return self.columns + self.finalized


ENTITY_NUMBER_COLUMNS = ("entity_number", "establishment_number", "enterprise_number")


def _text(name: str, csv: str) -> Column:
    return Column(name, csv)


def _date(name: str, csv: str) -> Column:
    return Column(name, csv, "DATE")


ENTITIES: tuple[Entity, ...] = (
    Entity(
        "enterprise",
        (
            _text("entity_number", "EnterpriseNumber"),
            _text("status", "Status"),
            _text("juridical_situation", "JuridicalSituation"),
            _text("type_of_enterprise", "TypeOfEnterprise"),
            _text("juridical_form", "JuridicalForm"),
            _text("juridical_form_cac", "JuridicalFormCAC"),
            _date("start_date", "StartDate"),
        ),
        key="entity_number",
        finalized=(
            Column("primary_name"),
            Column("primary_name_language"),
            Column("primary_name_nl"),
            Column("primary_name_fr"),
            Column("primary_name_de"),
        ),
    ),
    Entity(
        "establishment",
        (
            _text("establishment_number", "EstablishmentNumber"),
            _date("start_date", "StartDate"),
            _text("enterprise_number", "EnterpriseNumber"),
        ),
        key="establishment_number",
    ),
    Entity(
        "denomination",
        (
            _text("entity_number", "EntityNumber"),
            _text("language", "Language"),
            _text("type_of_denomination", "TypeOfDenomination"),
            _text("denomination", "Denomination"),
        ),
        key="entity_number",
    ),
    Entity(
        "address",
        (
            _text("entity_number", "EntityNumber"),
            _text("type_of_address", "TypeOfAddress"),
            _text("country_nl", "CountryNL"),
            _text("country_fr", "CountryFR"),
            _text("zipcode", "Zipcode"),
            _text("municipality_nl", "MunicipalityNL"),
            _text("municipality_fr", "MunicipalityFR"),
            _text("street_nl", "StreetNL"),
            _text("street_fr", "StreetFR"),
            _text("house_number", "HouseNumber"),
            _text("box", "Box"),
            _text("extra_address_info", "ExtraAddressInfo"),
            _date("date_striking_off", "DateStrikingOff"),
        ),
        key="entity_number",
    ),
    Entity(
        "contact",
        (
            _text("entity_number", "EntityNumber"),
            _text("entity_contact", "EntityContact"),
            _text("contact_type", "ContactType"),
            _text("value", "Value"),
        ),
        key="entity_number",
    ),
    Entity(
        "activity",
        (
            Column(
                "id",
                expression="entity_number || '_' || activity_group || '_' || nace_version || '_' || nace_code",
            ),
            _text("entity_number", "EntityNumber"),
            _text("activity_group", "ActivityGroup"),
            _text("nace_version", "NaceVersion"),
            _text("nace_code", "NaceCode"),
            _text("classification", "Classification"),
        ),
        key="entity_number",
    ),
    Entity(
        "branch",
        (
            _text("id", "Id"),
            _date("start_date", "StartDate"),
            _text("enterprise_number", "EnterpriseNumber"),
        ),
        key="id",
    ),
)

ENTITY_BY_TABLE: dict[str, Entity] = {e.table: e for e in ENTITIES}
TABLES: tuple[str, ...] = tuple(e.table for e in ENTITIES)
# Tables with at most one current row per key, and the tables whose rows hang off an enterprise or
# establishment number (several current rows per key).
UNIQUE_KEY_TABLES: tuple[str, ...] = ("enterprise", "establishment", "branch")
CHILD_TABLES: tuple[str, ...] = ("denomination", "address", "contact", "activity")

# code.csv is not an entity: no history, replaced whole from every extract.
CODE = Entity(
    "code",
    (
        _text("category", "Category"),
        _text("code", "Code"),
        _text("language", "Language"),
        _text("description", "Description"),
    ),
    key="code",
)


class Operation(StrEnum):
    """What a staged row does: a `_delete` file's key retires rows, an `_insert` file's row is added;
    code.csv replaces the code table."""

    DELETE = "delete"
    INSERT = "insert"
    CODE = "code"


OPERATIONS = (Operation.DELETE, Operation.INSERT)

# Default rows per batch (docs/design.md, decision 1). Full loads get their own sizes: at the update sizes a
# 36 M-row activity file would become 72,000 steps.
UPDATE_BATCH_SIZES: dict[str, int] = {
    "activity": 500,
    "address": 1000,
    "contact": 1000,
    "denomination": 1000,
    "branch": 1000,
    "enterprise": 2000,
    "establishment": 2000,
}
FULL_BATCH_SIZE = 2_000_000
FULL_BATCH_SIZES: dict[str, int] = {table: FULL_BATCH_SIZE for table in TABLES}
# An extract with fewer staged rows than this (all tables and operations together) is one batch per
# table and operation.
SINGLE_BATCH_THRESHOLD = 5000
