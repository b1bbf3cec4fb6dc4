"""The data checks on the entity tables, as plain queries: what an import checks after its batches
(before finalize) and what an audit checks over the whole database.

An Update is checked on what it touched: the keys of the rows it inserted or retired (and, for the
orphan and name checks, the rows hanging off those keys), so a daily update costs the same on a
2,000-enterprise database as on the full register. A Full, and an audit, check whole tables."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import duckdb

from kbo_pipeline.core.entities import CHILD_TABLES, ENTITY_BY_TABLE, TABLES, UNIQUE_KEY_TABLES
from kbo_pipeline.core.extract import ExtractType
from kbo_pipeline.core.ledger import JobStatus
from kbo_pipeline.core.templates import render
from kbo_pipeline.errors import DataChecksFailed


class Severity(StrEnum):
    ERROR = "error"  # stops the import before finalize
    WARN = "warn"  # reported only


@dataclass(frozen=True)
class CheckSpec:
    table: str
    name: str
    severity: Severity
    description: str


@dataclass(frozen=True)
class CheckOutcome:
    spec: CheckSpec
    passed: bool
    metadata: dict[str, int]


UNIQUE_KEY = "one_current_row_per_key"
ROWS_APPLIED = "rows_applied_equal_rows_staged"
ENTERPRISE_IS_CURRENT = "enterprise_is_current"
BELONGS_TO_AN_ENTITY = "belongs_to_a_current_entity"
HAS_A_PRIMARY_NAME = "has_a_primary_name"

SPECS: tuple[CheckSpec, ...] = (
    *(
        CheckSpec(t, UNIQUE_KEY, Severity.ERROR, f"At most one current {t} row per {ENTITY_BY_TABLE[t].key}.")
        for t in UNIQUE_KEY_TABLES
    ),
    *(
        CheckSpec(
            t,
            ROWS_APPLIED,
            Severity.ERROR,
            "The rows this extract inserted and retired are exactly those its batches staged and applied.",
        )
        for t in TABLES
    ),
    CheckSpec(
        "establishment",
        ENTERPRISE_IS_CURRENT,
        Severity.WARN,
        "Every current establishment belongs to a current enterprise (warns: a database started from an "
        "Update lacks older enterprises).",
    ),
    *(
        CheckSpec(
            t,
            BELONGS_TO_AN_ENTITY,
            Severity.WARN,
            f"Every current {t} row belongs to a current enterprise or establishment (warns).",
        )
        for t in CHILD_TABLES
    ),
    CheckSpec("enterprise", HAS_A_PRIMARY_NAME, Severity.ERROR, "Every current enterprise has a primary name."),
)


def _in(column: str, table: str, touched_column: str) -> str:
    return f"c.{column} IN (SELECT {touched_column} FROM check_rows_{table})"


@cache
def _scopes() -> dict[tuple[str, str], str]:
    """For each check, the condition that limits it to what one extract touched (identifiers only)."""
    scopes = {(t, UNIQUE_KEY): _in(ENTITY_BY_TABLE[t].key, t, ENTITY_BY_TABLE[t].key) for t in UNIQUE_KEY_TABLES}
    # An orphan appears where a child row is inserted, or where its parent is retired: either way its
    # number is in scope and has no current parent (sql/checks/scope.sql).
    scopes[("establishment", ENTERPRISE_IS_CURRENT)] = (
        "c.enterprise_number IN (SELECT number FROM check_without_enterprise)"
    )
    for t in CHILD_TABLES:
        scopes[(t, BELONGS_TO_AN_ENTITY)] = "c.entity_number IN (SELECT number FROM check_without_parent)"
    # A primary name changes with the enterprise row or its denominations.
    scopes[("enterprise", HAS_A_PRIMARY_NAME)] = " OR ".join(
        (
            _in("entity_number", "enterprise", "entity_number"),
            _in("entity_number", "denomination", "entity_number"),
        )
    )
    return scopes


# The current parents an orphan check looks up: the whole tables, or those in an import's scope.
_WHOLE_PARENTS = {
    "enterprises": "(SELECT entity_number AS number FROM enterprise WHERE _is_current)",
    "establishments": "(SELECT establishment_number AS number FROM establishment WHERE _is_current)",
}
_SCOPED_PARENTS = {"enterprises": "check_enterprises", "establishments": "check_establishments"}


_QUERIES = {
    UNIQUE_KEY: "checks/one_current_row_per_key.sql",
    ENTERPRISE_IS_CURRENT: "checks/establishment_orphans.sql",
    BELONGS_TO_AN_ENTITY: "checks/child_orphans.sql",
    HAS_A_PRIMARY_NAME: "checks/missing_primary_names.sql",
}


@cache
def _count_sql(table: str, name: str, scoped: bool) -> str:
    scope = f"AND ({_scopes()[(table, name)]})" if scoped else ""
    parents = _SCOPED_PARENTS if scoped else _WHOLE_PARENTS
    return render(_QUERIES[name], ENTITY_BY_TABLE[table], scope=scope, **parents)


def _count_outcome(conn: duckdb.DuckDBPyConnection, spec: CheckSpec, scoped: bool) -> CheckOutcome:
    cursor = conn.execute(_count_sql(spec.table, spec.name, scoped))
    label = cursor.description[0][0]
    found = int(cursor.fetchone()[0])
    return CheckOutcome(spec, found == 0, {label: found})


def _rows_applied_outcomes(
    conn: duckdb.DuckDBPyConnection, spec: CheckSpec, extract_number: int | None, scoped: bool
) -> CheckOutcome:
    rows = f"check_rows_{spec.table}" if scoped else spec.table
    per_job = conn.execute(
        render("checks/rows_applied.sql", rows=rows),
        {
            "table": spec.table,
            "extract": extract_number,
            "completed": JobStatus.COMPLETED,
            "rolled_back": JobStatus.ROLLED_BACK,
        },
    ).fetchall()
    wrong = [
        (number, staged, inserted, ledger_inserted, retired, ledger_retired)
        for number, staged, inserted, ledger_inserted, retired, ledger_retired in per_job
        if not staged == inserted == ledger_inserted or retired != ledger_retired
    ]
    if extract_number is not None:
        _, staged, inserted, _, retired, ledger_retired = per_job[0] if per_job else (None, 0, 0, 0, 0, 0)
        metadata = {
            "rows_staged": int(staged),
            "rows_inserted": int(inserted),
            "rows_retired": int(retired),
            "ledger_rows_retired": int(ledger_retired),
        }
    else:
        metadata = {"extracts_checked": len(per_job), "extracts_wrong": len(wrong)}
        if wrong:
            metadata["first_wrong_extract"] = int(wrong[0][0])
    return CheckOutcome(spec, not wrong, metadata)


def _mark_touched_rows(conn: duckdb.DuckDBPyConnection, extract_number: int) -> None:
    for table in TABLES:
        entity = ENTITY_BY_TABLE[table]
        conn.execute(
            render("checks/touched_rows.sql", entity, references=", ".join(entity.references)),
            {"extract": extract_number},
        )
    numbers = " UNION ALL ".join(
        f"SELECT {column} AS number FROM check_rows_{e.table}"
        for e in ENTITY_BY_TABLE.values()
        for column in e.references
    )
    conn.execute(render("checks/scope.sql", numbers=numbers))


def _drop_touched_rows(conn: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables touched_rows.sql and scope.sql made (all named check_...)."""
    made = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, 'check_')"
    ).fetchall()
    for (table,) in made:
        conn.execute(f'DROP TABLE "{table}"')


def _outcome(
    conn: duckdb.DuckDBPyConnection, spec: CheckSpec, extract_number: int | None, scoped: bool
) -> CheckOutcome:
    if spec.name == ROWS_APPLIED:
        return _rows_applied_outcomes(conn, spec, extract_number, scoped)
    return _count_outcome(conn, spec, scoped)


def check_extract(conn: duckdb.DuckDBPyConnection, extract_number: int) -> list[CheckOutcome]:
    """Every check, after extract N's batches: on what an Update touched, on the whole tables for a Full."""
    row = conn.execute(
        "SELECT extract_type FROM import_jobs WHERE extract_number = $n", {"n": extract_number}
    ).fetchone()
    scoped = row is not None and row[0] == ExtractType.UPDATE
    if scoped:
        _mark_touched_rows(conn, extract_number)
    try:
        return [_outcome(conn, spec, extract_number, scoped) for spec in SPECS]
    finally:
        if scoped:
            _drop_touched_rows(conn)


def audit(conn: duckdb.DuckDBPyConnection) -> list[CheckOutcome]:
    """Every check over every table, and the ledger of every completed extract against the tables."""
    return [_outcome(conn, spec, None, False) for spec in SPECS]


def failed_errors(outcomes: list[CheckOutcome]) -> list[CheckOutcome]:
    return [o for o in outcomes if not o.passed and o.spec.severity == Severity.ERROR]


def warnings(outcomes: list[CheckOutcome]) -> list[CheckOutcome]:
    return [o for o in outcomes if not o.passed and o.spec.severity == Severity.WARN]


def failure(outcomes: list[CheckOutcome]) -> DataChecksFailed | None:
    """The error of a run of the checks in which an ERROR check failed (the audit job and `kbo audit`)."""
    failed = failed_errors(outcomes)
    if not failed:
        return None
    return DataChecksFailed(f"{len(failed)} data check(s) failed: " + "; ".join(describe(o) for o in failed))


def describe(outcome: CheckOutcome) -> str:
    state = "passed" if outcome.passed else ("FAILED" if outcome.spec.severity == Severity.ERROR else "warning")
    figures = ", ".join(f"{k} {v:,}" for k, v in outcome.metadata.items())
    return f"{outcome.spec.table}.{outcome.spec.name}: {state} ({figures})"
