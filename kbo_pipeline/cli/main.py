"""`kbo`: import extracts through the Dagster job, show the ledger, write sample extracts, open the UI."""

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from kbo_pipeline import settings
from kbo_pipeline.cli.instance import ensure_dagster_home, ensure_workspace
from kbo_pipeline.cli.render import format_rows, format_summary, job_report, jobs_table
from kbo_pipeline.core.batch_sizes import configured_sizes
from kbo_pipeline.core.changes import change_summary, table_changes
from kbo_pipeline.core.data_checks import audit, describe, failed_errors, failure, warnings
from kbo_pipeline.core.database import (
    DatabaseBusy,
    connect_read_only,
    database_exists,
    ensure_readable,
    resolve_database,
)
from kbo_pipeline.core.extract import ExtractError, ExtractType, parse_file_name
from kbo_pipeline.core.freshness import freshness
from kbo_pipeline.core.lease import import_exclusion, is_importing
from kbo_pipeline.core.ledger import JobStatus, has_table, latest_applied
from kbo_pipeline.core.ledger_state import current_ledger
from kbo_pipeline.core.progress import read_with_retries
from kbo_pipeline.core.run_worker import processes  # plain Python: no Dagster imported with it
from kbo_pipeline.errors import ConfigError, KboError
from kbo_pipeline.sources.portal import PortalError, fetch_new, portal_client

# Dagster (and what imports it: runs, run_monitor) and the development aids are imported inside the
# commands that use them: importing Dagster costs about a second, which `kbo status` and `kbo audit`
# need not pay.


def _database_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        default=None,
        help=f"DuckDB file or md: path (default: $KBO_DATABASE or {settings.DEFAULT_DATABASE})",
    )


def _already_applied(database: str, zip_path: Path) -> str | None:
    """The reason to skip this ZIP, read from the database's ledger; None when it must run."""
    if not database_exists(database):
        return None
    try:
        number = parse_file_name(zip_path.name)[0]  # the run validates the file; the name is enough here
    except ExtractError:
        return None  # the run records the failure
    try:
        with connect_read_only(database) as conn:
            row = conn.execute("SELECT status FROM import_jobs WHERE extract_number = $n", {"n": number}).fetchone()
            latest = latest_applied(conn)
    except duckdb.Error:
        return None  # no ledger yet, or the file is busy: the run decides
    if row and row[0] == JobStatus.COMPLETED:
        return f"extract {number} is already applied"
    if latest is not None and number < latest:
        return f"extract {number} is older than the latest applied extract {latest}"
    return None


def run_import(
    database: str, zip_paths: list[Path], batch_sizes: dict[str, int] | None = None, accept_drift: bool = False
) -> int:
    """Each ZIP becomes a run of the kbo_import job on the instance ($DAGSTER_HOME), in the order given."""
    ensure_dagster_home()
    from dagster import DagsterInstance
    from dagster._core.errors import DagsterError

    from kbo_pipeline.cli.runs import ProgressBar, launch_import, run_errors

    instance = DagsterInstance.get()
    report_dead_runs(instance)
    print(f"database: {database}" + ("" if database_exists(database) else " (new)"))
    ensure_readable(database)
    for zip_path in zip_paths:
        skip = _already_applied(database, zip_path)
        if skip:
            print(f"{zip_path.name}: skipped, {skip}")
            continue
        print(f"{zip_path.name}: importing", flush=True)
        wait_for_other_imports(database)
        # On a terminal: a progress bar, and only warnings from the run's log. Otherwise: its log lines.
        terminal = sys.stdout.isatty()
        level = settings.log_level("WARNING" if terminal else "INFO")
        progress = ProgressBar(database, zip_path, sys.stdout) if terminal else contextlib.nullcontext()
        try:
            with (
                progress,
                launch_import(
                    instance, zip_path, database, batch_sizes=batch_sizes, log_level=level, accept_drift=accept_drift
                ) as result,
            ):
                success, run_id, errors = result.success, result.run_id, run_errors(result)
        except DagsterError as exc:  # the run could not start, e.g. another import holds the database
            print(f"{zip_path.name}: FAILED: {root_cause(exc)}", file=sys.stderr)
            return 1
        if not success:
            print(f"{zip_path.name}: FAILED (run {run_id})", file=sys.stderr)
            for error in errors:
                print(f"  {error}", file=sys.stderr)
            return 1
        print(f"{zip_path.name}: done (run {run_id})")
    return 0


def wait_for_other_imports(database: str) -> None:
    """While another import (or rollback) holds the database, say so and wait, up to KBO_LOCK_TIMEOUT;
    then an ImportLocked (a plain message) rather than a run failing in its resources."""
    import_exclusion(database).wait_until_free(on_wait=lambda message: print(f"kbo: {message}", file=sys.stderr))


def report_dead_runs(instance=None) -> None:
    """A run whose process died (a killed `kbo import`, a crashed host) is reported failed by whichever
    kbo command looks next, so that no run is left STARTED for good. Commands that launch a run pass
    the instance they launch on (loading one costs a few hundred milliseconds)."""
    ensure_dagster_home()
    from dagster import DagsterInstance

    from kbo_pipeline.defs.run_monitor import reap_dead_runs

    with contextlib.nullcontext(instance) if instance is not None else DagsterInstance.get() as current:
        for line in reap_dead_runs(current):
            print(f"kbo: {line}", file=sys.stderr)


def run_status(database: str, job_id: int | None, watch: bool) -> int:
    if not database_exists(database):
        print(f"{database}: no database yet")
        return 1

    def report(conn):
        if not has_table(conn, "import_jobs"):  # a new database (a MotherDuck one is created empty)
            return f"database: {database}\nnothing imported yet: it has no kbo ledger", None
        state = conn.execute(
            "SELECT status FROM import_jobs WHERE job_id = coalesce($j, (SELECT max(job_id) FROM import_jobs))",
            {"j": job_id},
        ).fetchone()
        fresh = freshness(conn, settings.max_age_hours()).describe()
        text = f"database: {database}\nfreshness: {fresh}\n\n" + jobs_table(conn) + "\n\n" + job_report(conn, job_id)
        return text, state[0] if state else None

    def busy(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        idle = 0
        while True:
            text, state = read_with_retries(database, report, on_busy=busy)
            if not watch:
                print(text)
                return 0
            print("\033[2J\033[H" + text, flush=True)
            if state not in (JobStatus.STAGING, JobStatus.PROCESSING):
                return 1 if state == JobStatus.FAILED else 0
            # Unfinished, and no run holds the database twice in a row: paused or stopped, not running.
            idle = 0 if is_importing(database) else idle + 1
            if idle >= 2:
                print(
                    f"\nno import is running on {database}: the job is paused or stopped (resume it with "
                    "Re-execute → From failure in the UI, or kbo import with its ZIP)",
                    file=sys.stderr,
                )
                return 1
            time.sleep(2)
    except DatabaseBusy as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def run_fetch(database: str, landing: Path) -> int:

    base = settings.portal().url
    reading = current_ledger(database)
    print(f"database: {database} (for what is applied), landing folder: {landing.resolve()}")
    if reading.note:
        print(f"fetch: {reading.note}", file=sys.stderr)
    if reading.state is None:
        return 2
    state = reading.state
    try:
        fetched = fetch_new(portal_client(), landing, state.latest_applied)
    except PortalError as exc:
        print(f"fetch: {exc}", file=sys.stderr)
        return 1
    for path in fetched:
        print(f"landed {path}")
    if not fetched:
        print(f"nothing new on {base}")
    return 0


def root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)


def run_rollback(database: str, extract_number: int) -> int:
    ensure_dagster_home()
    from dagster import DagsterInstance

    from kbo_pipeline.cli.runs import launch_rollback, run_errors

    instance = DagsterInstance.get()
    report_dead_runs(instance)
    print(f"database: {database}")
    ensure_readable(database)
    wait_for_other_imports(database)
    with launch_rollback(instance, extract_number, database) as result:
        if not result.success:
            print(f"rollback of extract {extract_number}: FAILED (run {result.run_id})", file=sys.stderr)
            for error in run_errors(result):
                print(f"  {error}", file=sys.stderr)
            return 1
        print(f"extract {extract_number} rolled back (run {result.run_id})")
    return 0


def run_audit(database: str) -> int:
    """The kbo_audit job's checks, read-only and without Dagster, so it runs beside an import elsewhere."""

    print(f"database: {database}")
    if not database_exists(database):
        raise ConfigError(f"no database at {database}")
    outcomes = read_with_retries(database, audit, on_busy=lambda message: print(message, file=sys.stderr))
    for outcome in outcomes:
        print(f"  {describe(outcome)}")
    failed, warned = len(failed_errors(outcomes)), len(warnings(outcomes))
    print(f"{len(outcomes)} checks: {len(outcomes) - failed - warned} passed, {warned} warning(s), {failed} failed")
    error = failure(outcomes)
    if error is not None:
        raise error
    return 0


def run_changes(database: str, extract_number: int, table: str | None) -> int:
    """What extract N changed, from the ledger database, read-only: beside an import running elsewhere."""
    print(f"database: {database}")
    if not database_exists(database):
        raise ConfigError(f"no database at {database}")

    def read(conn):
        if table is None:
            return format_summary(extract_number, change_summary(conn, extract_number))
        return format_rows(*table_changes(conn, extract_number, table))

    print(read_with_retries(database, read, on_busy=lambda message: print(message, file=sys.stderr)))
    return 0


def batch_size_arg(value: str) -> tuple[str, int]:
    """`TABLE[_OPERATION]=ROWS`, checked here so that a typo is a usage error, not a failed run."""

    key, equals, number = value.partition("=")
    if not equals or not number.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not TABLE[_OPERATION]=ROWS (e.g. activity=500)")
    try:
        configured_sizes(ExtractType.UPDATE, {key: int(number)})
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return key, int(number)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kbo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("import", help="apply extract ZIPs, in the order given, each as a Dagster run")
    _database_arg(p)
    p.add_argument("zips", nargs="+", type=Path, metavar="ZIP")
    p.add_argument(
        "--batch-size",
        action="append",
        type=batch_size_arg,
        metavar="TABLE[_OPERATION]=ROWS",
        help="override a batch size",
    )
    p.add_argument(
        "--accept-drift",
        action="store_true",
        help="apply a Full to a database holding data even when a table differs by more than 5 %%",
    )

    p = commands.add_parser("status", help="the import jobs and, for the latest (or --job), per-table batch progress")
    _database_arg(p)
    p.add_argument("--job", type=int, default=None, help="job id (default: the latest)")
    p.add_argument("--watch", action="store_true", help="redraw every 2 s while the job runs (Ctrl-C to stop)")

    p = commands.add_parser("rollback", help="undo extract N (the latest applied, or an unfinished one)")
    _database_arg(p)
    p.add_argument("extract_number", type=int, metavar="N")

    p = commands.add_parser("audit", help="every data check over every table of the database (read-only)")
    _database_arg(p)

    p = commands.add_parser("changes", help="what extract N changed: per table, or one table's rows (read-only)")
    _database_arg(p)
    p.add_argument("extract_number", type=int, metavar="N")
    p.add_argument("--table", default=None, help="list this table's added and retired rows")

    p = commands.add_parser("fetch", help="download new extracts from the open-data portal into the landing folder")
    _database_arg(p)
    p.add_argument("--landing", type=Path, default=None, help="default: $KBO_LANDING_DIR or data/landing")

    p = commands.add_parser("sample", help="write a synthetic Full and consecutive Updates in the real format")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--updates", type=int, default=3)
    p.add_argument("--enterprises", type=int, default=200)
    p.add_argument("--changes", type=int, default=40, help="changes per update")
    p.add_argument("--first-number", type=int, default=140)
    p.add_argument("--seed", type=int, default=147)

    p = commands.add_parser("ui", help="start the Dagster UI (webserver and daemon) on 127.0.0.1")
    _database_arg(p)
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")

    # Listed for `kbo --help` only: its options are the benchmark's own, handed over untouched (an
    # argparse REMAINDER does not take options that come first, so it is dispatched before parsing).
    commands.add_parser("bench", help="benchmark imports against plain DuckDB (kbo bench --help)", add_help=False)

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from kbo_pipeline.dev.bench import main as bench

        return bench(argv[1:])
    args = parser.parse_args(argv)
    database = resolve_database(getattr(args, "database", None) or settings.database_path())
    try:
        settings.check_environment()
        if args.command in ("status", "fetch"):  # import and rollback do it on the instance they launch on
            report_dead_runs()
        return _run(args, database)
    except KboError as exc:  # bad input or a refusal: the message says it all
        print(f"kbo {args.command}: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, database: str) -> int:
    if args.command == "import":
        return run_import(database, args.zips, dict(args.batch_size or []), args.accept_drift)
    if args.command == "fetch":
        return run_fetch(database, args.landing or settings.landing_dir())
    if args.command == "rollback":
        return run_rollback(database, args.extract_number)
    if args.command == "status":
        return run_status(database, args.job, args.watch)
    if args.command == "audit":
        return run_audit(database)
    if args.command == "changes":
        return run_changes(database, args.extract_number, args.table)
    if args.command == "sample":
        from kbo_pipeline.dev.sample import write_samples

        for path in write_samples(
            args.out,
            first_number=args.first_number,
            updates=args.updates,
            enterprises=args.enterprises,
            changes=args.changes,
            seed=args.seed,
        ):
            print(path)
        return 0
    if args.command == "ui":
        workspace = ensure_workspace(ensure_dagster_home())
        env = settings.child_environment(KBO_DATABASE=database)
        dagster = Path(sys.executable).with_name("dagster")
        return run_in_own_group([str(dagster), "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)], env)
    return 2


def run_in_own_group(command: list[str], env: dict, grace_seconds: float = 60.0) -> int:
    """Run `dagster dev` (webserver, daemon, code servers) in a process group of its own, and pass
    SIGTERM and SIGINT on to the whole group: signalled alone, `dagster dev` ended and left the
    webserver and the daemon running, the sensor still launching imports. Waits for the group to end;
    whatever of it is still there after `grace_seconds` is killed."""
    process = subprocess.Popen(command, env=env, start_new_session=True)
    group = process.pid

    def forward(signum, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _end_group(group, grace_seconds)
    return code


def _end_group(group: int, grace_seconds: float) -> None:
    """Stop what is left of the group (children `dagster dev` did not wait for), then wait for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not group_alive(group):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def group_alive(group: int) -> bool:
    """Whether a process of the group still runs (a zombie waiting to be reaped does not count)."""
    if not Path("/proc").is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    return any(int(fields[2]) == group and fields[0] != "Z" for fields in processes())  # state, ppid, pgrp


def console() -> None:
    """The `kbo` command. Once a command has returned, whatever it wrote is committed and closed, so the
    process leaves without Python's teardown of every module it loaded: for a `kbo import` that is
    Dagster's, 0.7 s of the command's start-up and exit (BENCHMARKS.md, issue 19). An exception, or
    argparse's exit, still leaves the usual way."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))


if __name__ == "__main__":
    console()
