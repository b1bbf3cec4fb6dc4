"""Data checks on the applied tables, run with every import after its batches and before finalize.
Blocking checks of severity ERROR stop the run there; orphan counts only warn (real data has some)."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from .entities import ENTITY_BY_TABLE, TABLES
from .extract import parse_file_name
from .resources import KboDatabase

UNIQUE_KEY_TABLES = ("enterprise", "establishment", "branch")
CHILD_TABLES = ("denomination", "address", "contact", "activity")


def _extract_number(context: AssetCheckExecutionContext) -> int | None:
    try:
        return parse_file_name(context.partition_key + ".zip")[0]
    except Exception:
        return None


def _count(kbo_db: KboDatabase, sql: str, params: dict | None = None) -> int:
    with kbo_db.get_connection() as conn:
        return int(conn.execute(sql, params or {}).fetchone()[0])


def _unique_key_check(table: str):
    key = ENTITY_BY_TABLE[table].key

    @asset_check(asset=table, name="one_current_row_per_key", blocking=True,
                 description=f"At most one current {table} row per {key}.")
    def check(kbo_db: KboDatabase) -> AssetCheckResult:
        duplicated = _count(kbo_db, f"SELECT count(*) FROM (SELECT {key} FROM {table} WHERE _is_current GROUP BY {key} HAVING count(*) > 1)")
        return AssetCheckResult(passed=duplicated == 0, metadata={"keys_with_several_current_rows": duplicated})

    return check


def _rows_applied_check(table: str):
    @asset_check(asset=table, name="rows_applied_equal_rows_staged", blocking=True,
                 description="The rows this extract inserted and retired are exactly those its batches staged and applied.")
    def check(context: AssetCheckExecutionContext, kbo_db: KboDatabase) -> AssetCheckResult:
        number = _extract_number(context)
        with kbo_db.get_connection() as conn:
            staged, applied_inserts, retired, applied_deletes = conn.execute(
                "SELECT coalesce(sum(b.records_count) FILTER (WHERE b.operation = 'insert'), 0), "
                "coalesce(sum(b.rows_affected) FILTER (WHERE b.operation = 'insert'), 0), "
                f"(SELECT count(*) FROM {table} WHERE _deleted_at_extract = $n), "
                "coalesce(sum(b.rows_affected) FILTER (WHERE b.operation = 'delete'), 0) "
                "FROM import_job_batches b JOIN import_jobs j USING (job_id) WHERE j.extract_number = $n AND b.table_name = $t",
                {"n": number, "t": table},
            ).fetchone()
            inserted = conn.execute(f"SELECT count(*) FROM {table} WHERE _extract_number = $n", {"n": number}).fetchone()[0]
        passed = staged == applied_inserts == inserted and retired == applied_deletes
        return AssetCheckResult(
            passed=bool(passed),
            metadata={"rows_staged": int(staged), "rows_inserted": int(inserted), "rows_retired": int(retired),
                      "ledger_rows_retired": int(applied_deletes)},
        )

    return check


@asset_check(asset="establishment", name="enterprise_is_current", blocking=True,
             description="Every current establishment belongs to a current enterprise (warns: a database started "
             "from an Update lacks older enterprises).")
def establishment_enterprise_is_current(kbo_db: KboDatabase) -> AssetCheckResult:
    orphans = _count(
        kbo_db,
        "SELECT count(*) FROM establishment s WHERE s._is_current AND NOT EXISTS ("
        "SELECT 1 FROM enterprise e WHERE e._is_current AND e.entity_number = s.enterprise_number)",
    )
    return AssetCheckResult(passed=orphans == 0, severity=AssetCheckSeverity.WARN, metadata={"orphans": orphans})


def _orphans_check(table: str):
    @asset_check(asset=table, name="belongs_to_a_current_entity", blocking=True,
                 description=f"Every current {table} row belongs to a current enterprise or establishment (warns).")
    def check(kbo_db: KboDatabase) -> AssetCheckResult:
        orphans = _count(
            kbo_db,
            f"SELECT count(*) FROM {table} c WHERE c._is_current "
            "AND NOT EXISTS (SELECT 1 FROM enterprise e WHERE e._is_current AND e.entity_number = c.entity_number) "
            "AND NOT EXISTS (SELECT 1 FROM establishment s WHERE s._is_current AND s.establishment_number = c.entity_number)",
        )
        return AssetCheckResult(passed=orphans == 0, severity=AssetCheckSeverity.WARN, metadata={"orphans": orphans})

    return check


@asset_check(asset="enterprise", name="has_a_primary_name", blocking=True,
             description="Every current enterprise has a primary name.")
def enterprise_has_a_primary_name(kbo_db: KboDatabase) -> AssetCheckResult:
    missing = _count(kbo_db, "SELECT count(*) FROM enterprise WHERE _is_current AND primary_name IS NULL")
    return AssetCheckResult(passed=missing == 0, metadata={"without_primary_name": missing})


CHECKS = [
    *(_unique_key_check(t) for t in UNIQUE_KEY_TABLES),
    *(_rows_applied_check(t) for t in TABLES),
    establishment_enterprise_is_current,
    *(_orphans_check(t) for t in CHILD_TABLES),
    enterprise_has_a_primary_name,
]
