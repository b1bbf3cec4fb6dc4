"""The data checks as Dagster asset checks: one step after the batches and before finalize, which
reports every check on its asset's Checks tab (the queries are in data_checks.py). A failed check of
severity ERROR fails the step, so finalize does not run; orphan counts only warn (real data has some)."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    Failure,
    MetadataValue,
    OpExecutionContext,
    asset_check,
    multi_asset_check,
    op,
)

from kbo_pipeline import settings
from kbo_pipeline.core.data_checks import (
    SPECS,
    CheckOutcome,
    Severity,
    audit,
    check_extract,
    describe,
    failed_errors,
    failure,
    warnings,
)
from kbo_pipeline.core.database import DatabaseBusy
from kbo_pipeline.core.freshness import freshness
from kbo_pipeline.defs.assets import asset_key
from kbo_pipeline.defs.partitions import extract_number
from kbo_pipeline.defs.resources import KboDatabase
from kbo_pipeline.defs.retries import retrying

_SEVERITY = {Severity.ERROR: AssetCheckSeverity.ERROR, Severity.WARN: AssetCheckSeverity.WARN}


@multi_asset_check(
    name="kbo_data_checks",
    specs=[
        AssetCheckSpec(
            s.name, asset=asset_key(s.table), description=s.description, blocking=s.severity == Severity.ERROR
        )
        for s in SPECS
    ],
)
def kbo_data_checks(context: AssetCheckExecutionContext, kbo_db: KboDatabase):
    """Every data check of this extract, in one step: on what an Update touched, whole tables for a Full."""
    number = extract_number(context)
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            outcomes = check_extract(conn, number)
    for outcome in outcomes:
        if not outcome.passed:  # a failed ERROR check also fails the step; orphans are usual in real data
            (context.log.warning if outcome.spec.severity == Severity.ERROR else context.log.info)(describe(outcome))
        yield _result(outcome)


def _result(outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=asset_key(outcome.spec.table),
        check_name=outcome.spec.name,
        passed=outcome.passed,
        severity=_SEVERITY[outcome.spec.severity],
        metadata=outcome.metadata,
    )


@asset_check(
    asset=asset_key("code"),
    name="extract_is_fresh",
    description="The latest extract was applied less than KBO_MAX_AGE_HOURS ago (48 by default): a daily "
    "pipeline that stopped fails it. Evaluated after every import and every hour (kbo_freshness_schedule).",
)
def extract_is_fresh(context: AssetCheckExecutionContext, kbo_db: KboDatabase) -> AssetCheckResult:
    limit = settings.max_age_hours()
    try:
        state = kbo_db.read(lambda conn: freshness(conn, limit))
    except DatabaseBusy:  # an import step holds the database: the pipeline is not stopped
        return AssetCheckResult(passed=True, description="an import holds the database: it is running")
    (context.log.info if state.fresh else context.log.warning)(state.describe())
    return AssetCheckResult(
        passed=state.fresh,
        severity=AssetCheckSeverity.WARN,
        description=state.describe(),
        metadata={
            "latest_extract": state.latest_extract if state.latest_extract is not None else -1,
            "age_hours": MetadataValue.float(round(state.age_hours, 2) if state.age_hours is not None else -1.0),
            "max_age_hours": MetadataValue.float(limit),
        },
    )


@op
def kbo_audit_database(context: OpExecutionContext, kbo_db: KboDatabase) -> dict:
    """Every data check over every table, and every completed extract's ledger against the tables.
    Fails when a check of severity ERROR fails; warnings are logged."""
    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            outcomes = audit(conn)
    for outcome in outcomes:
        (context.log.info if outcome.passed else context.log.warning)(describe(outcome))
    rows = "\n".join(
        f"| {o.spec.table} | {o.spec.name} | {'passed' if o.passed else o.spec.severity} | "
        + ", ".join(f"{k} {v:,}" for k, v in o.metadata.items())
        + " |"
        for o in outcomes
    )
    context.add_output_metadata(
        {
            "checks": len(outcomes),
            "failed": len(failed_errors(outcomes)),
            "warnings": len(warnings(outcomes)),
            "results": MetadataValue.md("| table | check | result | figures |\n|---|---|---|---|\n" + rows),
        }
    )
    error = failure(outcomes)
    if error is not None:  # the same message as `kbo audit`
        raise Failure(str(error))
    return {"checks": len(outcomes)}


CHECKS = [kbo_data_checks]
