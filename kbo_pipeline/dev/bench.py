"""`kbo bench` / `python -m kbo_pipeline.dev.bench`: how fast imports are, against the physical limit.

Generates its extracts with DuckDB (real format and sizes; `--scale full` is the October 2025 Full,
about 47 M rows), then runs each scenario and prints one line per figure, ratios from the same run:

1. The Full into an empty database through `kbo import` (a process of its own, exports as by default)
   against a reference loader on the same ZIP (unzip, typed `read_csv` into the same tables, primary
   names) and plain `read_csv` of the unpacked CSVs; the command's peak memory; its phases from the
   step stats; its change-set export against a bare `COPY ... (FORMAT parquet)` of the same tables.
2. A daily update (the size of extract 147) through `kbo import` on the full register and on a
   20,000-enterprise one (command, run, phases, the `parquet_exports` step), and a spike (15,000
   activity rows) through the job; the database work alone, without Dagster.
3. A huge update (7 M rows at full scale) through the batch path: steps and time against the Full.
4. The Full's rows again as a later Full on the register that applied the daily and spike updates:
   reconciled (only the differences applied), its time, and the current rows against the reference's.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import duckdb
from dagster import DagsterInstance, DynamicOut, DynamicOutput, RunsFilter, in_process_executor, job, op

from kbo_pipeline import settings
from kbo_pipeline.cli.instance import ensure_dagster_home
from kbo_pipeline.cli.runs import launch_import
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.entities import ENTITIES, ENTITY_BY_TABLE
from kbo_pipeline.core.exports import changes_folder, export_current
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.core.primary_names import mark_touched, resolve_touched
from kbo_pipeline.core.schema import create_schema
from kbo_pipeline.core.staging import csv_reader, load_rows_sql
from kbo_pipeline.dev.sample import NACE, code_csv, extract_name, meta_csv  # NACE: the codes code.csv describes

# Rows per enterprise in the October 2025 Full (docs/extract-format.md): 1.9 M enterprises.
FULL_ENTERPRISES = 1_900_000
PER_ENTERPRISE = {
    "establishment": 0.9,
    "denomination": 1.74,
    "address": 1.47,
    "contact": 0.37,
    "activity": 19.1,
    "branch": 0.0038,
}
SCALES = {"small": 1 / 200, "medium": 1 / 20, "full": 1.0}
SMALL_REGISTER = 20_000  # enterprises: the register a daily update is compared on
DAILY = {
    "enterprise": (162, 28),
    "establishment": (14, 22),
    "denomination": (172, 53),
    "address": (53, 68),
    "contact": (24, 40),
    "activity": (42, 425),
    "branch": (0, 0),
}


def _number_sql(base: str, establishment: bool) -> str:
    """A valid KBO number (mod-97 check digits) from an integer SQL expression of 8 digits."""
    digits = f"(lpad(CAST({base} AS VARCHAR), 8, '0') || lpad(CAST(97 - ({base}) % 97 AS VARCHAR), 2, '0'))"
    if establishment:
        return f"(substr({digits}, 1, 1) || '.' || substr({digits}, 2, 3) || '.' || substr({digits}, 5, 3) || '.' || substr({digits}, 8, 3))"
    return f"(substr({digits}, 1, 4) || '.' || substr({digits}, 5, 3) || '.' || substr({digits}, 8, 3))"


ENTERPRISE = _number_sql("2000000 + e * 3", False)
ESTABLISHMENT = _number_sql("20000000 + s * 4", True)


def _rows_sql(table: str, n_enterprises: int) -> str:
    """SELECT producing the CSV columns of one entity table (names as in the CSV header)."""
    count = {"enterprise": n_enterprises, **{t: int(n_enterprises * f) for t, f in PER_ENTERPRISE.items()}}[table]
    spread = f"CAST(floor(i * {n_enterprises} / {max(count, 1)}) AS BIGINT)"  # the enterprise of row i
    nace = "[" + ", ".join(f"'{c}'" for c in NACE) + "]"
    bodies = {
        "enterprise": f"SELECT {ENTERPRISE.replace('e *', 'i *')} AS EnterpriseNumber, 'AC' AS Status, "
        "CASE WHEN i % 50 = 0 THEN '012' ELSE '000' END AS JuridicalSituation, "
        "CASE WHEN i % 5 < 2 THEN '1' ELSE '2' END AS TypeOfEnterprise, "
        "CASE WHEN i % 5 < 2 THEN NULL ELSE '610' END AS JuridicalForm, NULL::VARCHAR AS JuridicalFormCAC, "
        "DATE '1970-01-01' + CAST(i % 20000 AS INTEGER) AS StartDate",
        "establishment": f"SELECT {ESTABLISHMENT.replace('s *', 'i *')} AS EstablishmentNumber, "
        f"DATE '1980-01-01' + CAST(i % 15000 AS INTEGER) AS StartDate, {ENTERPRISE.replace('e *', f'{spread} *')} AS EnterpriseNumber",
        "denomination": f"SELECT {ENTERPRISE.replace('e *', f'{spread} *')} AS EntityNumber, "
        "CASE i % 3 WHEN 0 THEN '2' WHEN 1 THEN '1' ELSE '0' END AS Language, "
        "CASE WHEN i % 4 = 3 THEN '003' ELSE '001' END AS TypeOfDenomination, "
        "'Onderneming, ' || i || ' \"Été\" BV' AS Denomination",
        "address": f"SELECT {ENTERPRISE.replace('e *', f'{spread} *')} AS EntityNumber, 'REGO' AS TypeOfAddress, "
        "NULL::VARCHAR AS CountryNL, NULL::VARCHAR AS CountryFR, CAST(1000 + i % 8999 AS VARCHAR) AS Zipcode, "
        "'Gemeente ' || (i % 581) AS MunicipalityNL, 'Commune ' || (i % 581) AS MunicipalityFR, "
        "'Kerkstraat' AS StreetNL, 'Rue de l''Église' AS StreetFR, CAST(1 + i % 250 AS VARCHAR) AS HouseNumber, "
        "CASE WHEN i % 7 = 0 THEN 'A' END AS Box, NULL::VARCHAR AS ExtraAddressInfo, NULL::DATE AS DateStrikingOff",
        "contact": f"SELECT {ENTERPRISE.replace('e *', f'{spread} *')} AS EntityNumber, 'ENT' AS EntityContact, "
        "CASE i % 3 WHEN 0 THEN 'TEL' WHEN 1 THEN 'EMAIL' ELSE 'WEB' END AS ContactType, 'info' || i || '@example.be' AS Value",
        "activity": f"SELECT {ENTERPRISE.replace('e *', f'{spread} *')} AS EntityNumber, "
        "CASE i % 3 WHEN 0 THEN '001' WHEN 1 THEN '003' ELSE '006' END AS ActivityGroup, "
        "CASE WHEN i % 2 = 0 THEN '2008' ELSE '2025' END AS NaceVersion, "
        f"{nace}[1 + CAST(i % {len(NACE)} AS INTEGER)] AS NaceCode, CASE WHEN i % 19 = 0 THEN 'MAIN' ELSE 'SECO' END AS Classification",
        "branch": f"SELECT {_number_sql('90000000 + i * 7', True)} AS Id, DATE '2000-01-01' + CAST(i % 8000 AS INTEGER) AS StartDate, "
        f"{ENTERPRISE.replace('e *', f'{spread} *')} AS EnterpriseNumber",
    }
    return f"{bodies[table]} FROM range({count}) t(i)"


def _copy_csv(conn: duckdb.DuckDBPyConnection, select: str, path: Path, table: str) -> None:
    entity = ENTITY_BY_TABLE[table]
    text = [c.csv for c in entity.csv_columns if c.type != "DATE"]
    conn.execute(
        f"COPY ({select}) TO '{path}' (HEADER, DELIMITER ',', QUOTE '\"', ESCAPE '\"', "
        f"FORCE_QUOTE ({', '.join(text)}), DATEFORMAT '%d-%m-%Y')"
    )


def write_extract(folder: Path, number: int, extract_type: str, members: dict[str, Path]) -> Path:
    """A ZIP in the real layout. Stored, not deflated: compressing 2 GB would measure zlib, not us."""
    day = date(2025, 10, 1) + timedelta(days=number - 140)
    path = folder / extract_name(number, day, extract_type)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(
            "meta.csv", meta_csv(number, extract_type, day - timedelta(days=1), datetime.combine(day, clock(7, 40, 18)))
        )
        zf.writestr("code.csv", code_csv())
        for name, csv_path in members.items():
            zf.write(csv_path, name)
    return path


def quiet_connection() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("SET enable_progress_bar = false")
    return conn


def generate_full(folder: Path, n_enterprises: int, number: int = 140) -> tuple[Path, dict[str, Path]]:
    csvs = {}
    with quiet_connection() as conn:
        for entity in ENTITIES:
            csvs[entity.full_member] = folder / entity.full_member
            _copy_csv(conn, _rows_sql(entity.table, n_enterprises), csvs[entity.full_member], entity.table)
    return write_extract(folder, number, "full", csvs), csvs


def generate_update(
    folder: Path, full_csvs: dict[str, Path], number: int, changes: dict[str, tuple[int, int]], seed: int
) -> Path:
    """An update that deletes the rows of some existing keys and inserts a new set of rows for them."""

    members = {}
    with quiet_connection() as conn:
        for entity in ENTITIES:
            deletes, inserts = changes.get(entity.table, (0, 0))
            source = str(full_csvs[entity.full_member])
            key = entity.key_csv
            delete_path, insert_path = folder / entity.delete_member, folder / entity.insert_member
            conn.execute(
                f"COPY (SELECT DISTINCT \"{key}\" FROM read_csv('{source}', all_varchar = true) "
                f"USING SAMPLE reservoir({max(deletes, 1)} ROWS) REPEATABLE ({seed}) LIMIT {deletes}) "
                f"TO '{delete_path}' (HEADER, QUOTE '\"', FORCE_QUOTE (\"{key}\"))"
            )
            if entity.one_row_per_key:
                inserts = min(inserts, deletes)  # one current row per key: re-insert each deleted key once
            copies = max(1, -(-inserts // max(deletes, 1)))  # rows per key re-inserted
            # Each copy after the first differs in its last text column: identical rows would be one row.
            varied = [c.csv for c in entity.csv_columns if c.type != "DATE" and c.name != entity.key][-1]
            columns = ", ".join(
                f"CASE WHEN range = 0 THEN s.\"{c.csv}\" ELSE coalesce(s.\"{c.csv}\", '') || ' #' || range END"
                f' AS "{c.csv}"'
                if c.csv == varied
                else f's."{c.csv}"'
                for c in entity.csv_columns
            )
            reader = csv_reader(entity, "insert").replace("$path", f"'{source}'")
            keys = f"SELECT * FROM read_csv('{delete_path}', all_varchar = true)"
            _copy_csv(
                conn,
                f'SELECT {columns} FROM {reader} s, range({copies}) WHERE s."{key}" IN ({keys}) LIMIT {inserts}',
                insert_path,
                entity.table,
            )
            members[entity.delete_member], members[entity.insert_member] = delete_path, insert_path
    return write_extract(folder, number, "update", members)


def read_csvs(conn: duckdb.DuckDBPyConnection, csvs: dict[str, Path]) -> None:
    """Each Full CSV, typed by DuckDB's reader as the importer types it, into its table."""
    for entity in ENTITIES:
        params = {"path": str(csvs[entity.full_member]), "snapshot_date": date(2025, 9, 30), "extract_number": 140}
        conn.execute(load_rows_sql(entity), params)


def baseline_load(database: Path, csvs: dict[str, Path]) -> float:
    """The physical limit: DuckDB read_csv of the same CSVs, same types, into the same tables."""

    started = time.monotonic()
    with connect(str(database), settings.duckdb_config()) as conn:
        conn.execute("SET enable_progress_bar = false")
        create_schema(conn)
        read_csvs(conn, csvs)
    return time.monotonic() - started


def baseline_in_process(database: Path, csvs: dict[str, Path]) -> tuple[float, float]:
    return baseline_load(database, csvs), peak_memory_mb()


def current_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {e.table: conn.execute(f"SELECT count(*) FROM current_{e.table}").fetchone()[0] for e in ENTITIES}


def reference_load(database: Path, zip_path: Path, folder: Path) -> tuple[float, float, dict[str, int]]:
    """The bare loader a data engineer would write, on the same ZIP: unzip, typed read_csv into the
    same tables, primary names. Its time, its peak memory and its current rows per table."""

    started = time.monotonic()
    shutil.rmtree(folder, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    with connect(str(database), settings.duckdb_config()) as conn:
        conn.execute("SET enable_progress_bar = false")
        create_schema(conn)
        read_csvs(conn, {e.full_member: folder / e.full_member for e in ENTITIES})
        mark_touched(conn, 140)
        resolve_touched(conn)
        seconds = time.monotonic() - started
        counts = current_counts(conn)
    shutil.rmtree(folder, ignore_errors=True)
    return seconds, peak_memory_mb(), counts


def bare_copy(database: Path, folder: Path) -> tuple[float, int]:
    """The cost of writing the bytes: a plain COPY (SELECT * FROM table) TO ... (FORMAT parquet) of
    every entity table, one after the other, DuckDB's defaults."""

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.monotonic()
    with connect(str(database), settings.duckdb_config()) as conn:
        for entity in ENTITIES:
            conn.execute(
                f"COPY (SELECT * FROM {entity.table}) TO $path (FORMAT parquet)",
                {"path": str(folder / f"{entity.table}.parquet")},
            )
    seconds = time.monotonic() - started
    written = folder_bytes(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return seconds, written


@dataclass(frozen=True)
class JobTiming:
    seconds: float  # launch to result, as a caller of execute_job sees it
    run_seconds: float  # the run's own start to end, from the run record
    phases: dict[str, tuple[int, float]]  # phase: (steps, seconds of step duration)

    @property
    def steps(self) -> int:
        return sum(n for n, _ in self.phases.values())

    def describe(self) -> str:
        in_steps = sum(s for _, s in self.phases.values())
        parts = [
            f"{name} {seconds:.2f} s" + (f" ({n} steps)" if n > 1 else "")
            for name, (n, seconds) in self.phases.items()
            if n
        ]
        return " | ".join(
            [
                *parts,
                f"run outside steps {self.run_seconds - in_steps:.2f} s",
                f"launch and teardown {self.seconds - self.run_seconds:.2f} s",
            ]
        )


def phase_of(step_key: str) -> str:
    """The bench's phase of one step of the kbo_import job (anything else is an asset check step)."""
    for prefix, phase in (
        ("kbo_extract", "unpack and validate"),
        ("kbo_staging", "staging"),
        ("applied_tables.kbo_plan_batches", "plan"),
        ("applied_tables.kbo_apply_batch", "batches"),
        ("applied_tables.kbo_complete_batches", "names"),
        ("kbo_finalize", "finalize"),
        ("kbo__parquet_exports_", "checks"),  # the export's row-count check
        ("parquet_exports", "exports"),
    ):
        if step_key.startswith(prefix):
            return phase
    return "checks"


PHASES = ("unpack and validate", "staging", "plan", "batches", "names", "checks", "finalize", "exports")


def step_phases(instance, run_id: str) -> dict[str, tuple[int, float]]:
    phases = {name: (0, 0.0) for name in PHASES}
    for stat in instance.get_run_step_stats(run_id):
        n, seconds = phases[phase_of(stat.step_key)]
        phases[phase_of(stat.step_key)] = (n + 1, seconds + (stat.end_time or 0) - (stat.start_time or 0))
    return phases


def timed_job(instance, zip_path: Path, database: Path, work: Path) -> JobTiming:

    started = time.monotonic()
    with launch_import(instance, zip_path, str(database), str(work), log_level="WARNING") as result:
        if not result.success:
            raise SystemExit(f"{zip_path.name}: the import failed")
        run_id = result.run_id
    seconds = time.monotonic() - started
    record = instance.get_run_record_by_id(run_id)
    return JobTiming(seconds, record.end_time - record.start_time, step_phases(instance, run_id))


def timed_core(zip_path: Path, database: Path, work: Path) -> float:
    """The database work alone: the same steps as plain function calls, no Dagster."""

    started = time.monotonic()
    with connect(str(database), settings.duckdb_config()) as conn:
        import_extract(conn, zip_path, work)
    return time.monotonic() - started


def empty_step_seconds(instance) -> float:
    """What Dagster itself costs per step here: a run of 20 ops that do nothing, in process."""

    @op(out=DynamicOut(int))
    def fan_out():
        for i in range(19):
            yield DynamicOutput(i, mapping_key=str(i))

    @op
    def nothing(value: int) -> int:
        return value

    @job(executor_def=in_process_executor)
    def kbo_bench_empty_steps():
        fan_out().map(nothing)

    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    run_id = kbo_bench_empty_steps.execute_in_process(run_config=quiet, instance=instance).run_id
    record = instance.get_run_record_by_id(run_id)
    return (record.end_time - record.start_time) / len(instance.get_run_step_stats(run_id))


@dataclass(frozen=True)
class CommandTiming:
    seconds: float  # the command's wall time, start-up included
    run: JobTiming  # its run, from the run record and the step stats
    peak_mb: float  # the command process's peak resident memory


def timed_command(zip_path: Path, database: Path, work: Path) -> CommandTiming:
    """`kbo import` as a user runs it, in a process of its own: its wall time, its run's own
    duration and phases, and the process's peak memory."""

    env = settings.child_environment(KBO_WORK_DIR=str(work), KBO_LOG_LEVEL="WARNING")
    kbo = Path(sys.executable).with_name("kbo")
    started = time.monotonic()
    command = subprocess.Popen(
        [str(kbo), "import", "--database", str(database), str(zip_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(command.pid, 0)  # this child's own rusage: its peak memory
    seconds = time.monotonic() - started
    command.returncode = os.waitstatus_to_exitcode(status)
    if command.returncode:
        raise SystemExit(f"kbo import {zip_path.name}: exit {command.returncode}")
    with DagsterInstance.get() as instance:
        record = instance.get_run_records(RunsFilter(tags={settings.DATABASE_TAG: str(database.resolve())}), limit=1)[0]
        phases = step_phases(instance, record.dagster_run.run_id)
    run = JobTiming(seconds, record.end_time - record.start_time, phases)
    return CommandTiming(seconds, run, usage.ru_maxrss / 1024)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.parquet"))


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate_all(data: Path, n: int, factor: float):
    """The Full, its CSVs and the three updates; kept in `data` and reused by a later run with --keep
    (the same bytes for a before-and-after comparison)."""

    done = data / "generated.pickle"
    if done.exists():
        return pickle.loads(done.read_bytes())
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    full_zip, csvs = generate_full(data, n)
    with quiet_connection() as conn:
        rows = sum(conn.execute(f"SELECT count(*) FROM read_csv('{path}')").fetchone()[0] for path in csvs.values())
    daily = generate_update(data, csvs, 141, DAILY, 1)
    spike = generate_update(data, csvs, 142, {"activity": (1500, 15000)}, 2)
    huge_changes = {"activity": (int(700_000 * factor), int(6_300_000 * factor))}
    huge = generate_update(data, csvs, 143, huge_changes, 3)
    generated = full_zip, csvs, rows, daily, spike, huge, huge_changes
    done.write_bytes(pickle.dumps(generated))
    return generated


def run(scale: str, root: Path) -> None:

    factor = SCALES[scale]
    n = max(200, int(FULL_ENTERPRISES * factor))
    print(
        f"scale {scale}: {n:,} enterprises; DuckDB {duckdb.__version__}; {os.cpu_count()} cores; "
        f"memory_limit={settings.duckdb_config().get('memory_limit', 'default')} "
        f"threads={settings.duckdb_config().get('threads', 'default')}"
    )
    # Generating and the baseline run in processes of their own, so that the peak memory printed for
    # the import is the import's alone (Linux keeps a process's peak across fork and exec).
    spawn = multiprocessing.get_context("spawn")
    for earlier in (
        "baseline.duckdb",
        "reference.duckdb",
        "kbo.duckdb",
        "core.duckdb",
        "home",
        "work",
        "small",
        "kbo.duckdb.exports",
    ):
        shutil.rmtree(root / earlier, ignore_errors=True) if (root / earlier).is_dir() else (root / earlier).unlink(
            missing_ok=True
        )
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        started = time.monotonic()
        full_zip, csvs, rows, daily, spike, huge, huge_changes = pool.submit(
            generate_all, root / "data", n, factor
        ).result()
    print(
        f"generate full: {rows:,} rows, {sum(p.stat().st_size for p in csvs.values()) / 1e9:.2f} GB of CSV, "
        f"and the updates, in {time.monotonic() - started:.1f} s (0 when reused)"
    )
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        reference_seconds, reference_mb, reference_counts = pool.submit(
            reference_load, root / "reference.duckdb", full_zip, root / "unzipped"
        ).result()
    (root / "reference.duckdb").unlink()
    print(
        f"reference loader (unzip, typed read_csv, primary names): {reference_seconds:.1f} s, "
        f"peak memory {reference_mb:,.0f} MB"
    )
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        baseline_seconds, baseline_mb = pool.submit(baseline_in_process, root / "baseline.duckdb", csvs).result()
    print(
        f"plain DuckDB read_csv of the unpacked CSVs (baseline): {baseline_seconds:.1f} s, peak memory {baseline_mb:,.0f} MB"
    )
    settings.use_dagster_home(root / "home")
    # Each database the bench builds exports beside itself: an export folder belongs to one database.
    settings.unset("KBO_EXPORT_DIR")
    ensure_dagster_home()
    database, work = root / "kbo.duckdb", root / "work"
    exports = settings.export_dir(str(database))
    with DagsterInstance.get() as instance:
        empty = empty_step_seconds(instance)
    print(f"an empty in-process Dagster step: {empty * 1000:.0f} ms (the floor of the per-step overhead)")
    full = timed_command(full_zip, database, work)
    print(
        f"full, kbo import command: {full.seconds:.1f} s (its run {full.run.run_seconds:.1f} s), {full.run.steps} steps"
    )
    print(f"full phases: {full.run.describe()}")
    print(f"full ratio (kbo import / reference loader): {full.seconds / reference_seconds:.2f}  (goal <= 2.0)")
    print(f"peak memory of the kbo import process (full): {full.peak_mb:,.0f} MB  (goal <= 3072)")
    with connect(str(database), settings.duckdb_config()) as conn:
        counts = current_counts(conn)
    print(f"current rows equal to the reference loader's: {counts == reference_counts} ({sum(counts.values()):,} rows)")
    exported = full.run.phases["exports"][1]
    bare_seconds, bare_bytes = bare_copy(database, root / "bare_copy")
    print(
        f"the Full's change-set export: {exported:.1f} s, {folder_bytes(changes_folder(exports, 140)):,} bytes; "
        f"bare COPY of the same tables to Parquet: {bare_seconds:.1f} s, {bare_bytes:,} bytes; "
        f"ratio {exported / bare_seconds:.2f}"
    )
    with connect(str(database), settings.duckdb_config()) as conn:
        started = time.monotonic()
        snapshot = export_current(conn, exports)
        print(
            f"current snapshot ({sum(f.rows for f in snapshot):,} rows, every table and code): "
            f"{time.monotonic() - started:.1f} s, {sum(f.bytes for f in snapshot):,} bytes of Parquet"
        )
    shutil.copy(database, root / "core.duckdb")
    daily_command = timed_command(daily, database, work)
    daily_core = timed_core(daily, root / "core.duckdb", work)
    print(
        f"daily update ({daily.name}), kbo import command on the full register: {daily_command.seconds:.2f} s, "
        f"its run {daily_command.run.run_seconds:.2f} s, start-up and teardown "
        f"{daily_command.seconds - daily_command.run.run_seconds:.2f} s; database work alone {daily_core:.2f} s  (goal <= 6 s)"
    )
    print(f"daily update phases: {daily_command.run.describe()}")
    with DagsterInstance.get() as instance:
        spike_timing = timed_job(instance, spike, database, work)
        spike_core = timed_core(spike, root / "core.duckdb", work)
        print(
            f"spike update ({spike.name}): end to end {spike_timing.seconds:.2f} s, database work {spike_core:.2f} s, "
            f"{spike_timing.steps} steps"
        )
        print(f"spike update phases: {spike_timing.describe()}")
        huge_timing = timed_job(instance, huge, database, work)
        print(
            f"huge update ({sum(d + i for d, i in huge_changes.values()):,} rows): {huge_timing.seconds:.1f} s, "
            f"{huge_timing.steps} steps; against the Full's command: {huge_timing.seconds / full.seconds:.2f}  (goal <= 0.5)"
        )
        print(f"huge update phases: {huge_timing.describe()}")
    # The same daily update on a small register: what it costs should not grow with the register.
    small = root / "small"
    small.mkdir()
    small_full, small_csvs = generate_full(small, SMALL_REGISTER)
    small_daily = generate_update(small, small_csvs, 141, DAILY, 1)
    timed_core(small_full, small / "kbo.duckdb", work)
    shutil.copy(small / "kbo.duckdb", small / "cli.duckdb")
    small_core = timed_core(small_daily, small / "kbo.duckdb", work)
    small_command = timed_command(small_daily, small / "cli.duckdb", work)
    print(
        f"daily update, kbo import command on a {SMALL_REGISTER:,}-enterprise register: {small_command.seconds:.2f} s, "
        f"its run {small_command.run.run_seconds:.2f} s; database work alone {small_core:.2f} s"
    )
    print(f"daily update phases ({SMALL_REGISTER:,} enterprises): {small_command.run.describe()}")
    full_export, small_export = daily_command.run.phases["exports"][1], small_command.run.phases["exports"][1]
    print(
        f"daily update, full register / small register: command {daily_command.seconds / small_command.seconds:.2f} "
        f"(goal <= 1.5), parquet_exports step {full_export:.2f} s / {small_export:.2f} s = "
        f"{full_export / small_export:.2f} (goals: <= 1.5, < 0.3 s), database work {daily_core / small_core:.2f}"
    )
    # A Full on a database that holds data is reconciled: only its differences go through the batches.
    # The Full's rows again, as the extract after those core.duckdb applied (140-142): afterwards the
    # current rows are the Full's, as the reference loader has them. Its drift is what those updates
    # changed, a large share of a small register: accepted.
    refull_folder = root / "refull"
    shutil.rmtree(refull_folder, ignore_errors=True)
    refull_folder.mkdir()
    refull = write_extract(refull_folder, 143, "Full", csvs)
    started = time.monotonic()
    with connect(str(root / "core.duckdb"), settings.duckdb_config()) as conn:
        reconciled = import_extract(conn, refull, work, accept_drift=True)
        seconds = time.monotonic() - started
        counts = current_counts(conn)
    shutil.rmtree(refull_folder, ignore_errors=True)
    print(
        f"reconciled Full ({refull.name}, the Full's rows again) on the full register: {seconds:.1f} s, "
        f"{len(reconciled.batches)} batches; current rows equal to the reference loader's: {counts == reference_counts}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kbo bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--keep", type=Path, default=None, help="work in this folder and keep it (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each figure shows as it is measured, also into a file
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.scale, args.keep / args.scale)
    else:
        with tempfile.TemporaryDirectory(prefix="kbo-bench-") as folder:
            run(args.scale, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
