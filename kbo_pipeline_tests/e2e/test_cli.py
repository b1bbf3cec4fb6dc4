"""The user's path: `kbo sample`, `kbo import`, `kbo status` as commands, each import a Dagster run."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
from dagster import DagsterEventType, DagsterInstance

from kbo_pipeline_tests.support.files import EXTRACT_147, copy_to
from kbo_pipeline_tests.support.fulls import current_state, full_zip
from kbo_pipeline_tests.support.tables import run_while_held
from kbo_pipeline_tests.support.terminal import run_on_a_terminal

KBO = str(Path(sys.executable).with_name("kbo"))


def kbo(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KBO_", "DAGSTER_HOME"))}
    return subprocess.run(
        [KBO, *args], cwd=cwd, env={**environment, **(env or {})}, capture_output=True, text=True, timeout=600
    )


def test_sample_import_status_on_the_defaults(tmp_path):
    sample = kbo("sample", "--out", "data/landing", "--updates", "2", cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    zips = sorted((tmp_path / "data" / "landing").glob("*.zip"))
    assert [z.name for z in zips] == [
        "KboOpenData_0140_2025_10_05_Full.zip",
        "KboOpenData_0141_2025_10_06_Update.zip",
        "KboOpenData_0142_2025_10_07_Update.zip",
    ]
    imported = kbo("import", *map(str, zips), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert imported.stdout.count(": done (run ") == 3
    # The defaults: data/kbo.duckdb, and runs recorded on the project-local instance.
    with duckdb.connect(str(tmp_path / "data" / "kbo.duckdb"), read_only=True) as conn:
        assert conn.execute(
            "SELECT list(extract_number ORDER BY job_id) FROM import_jobs WHERE status = 'completed'"
        ).fetchone()[0] == [140, 141, 142]
    os.environ["DAGSTER_HOME"], saved = str(tmp_path / "data" / "dagster_home"), os.environ.get("DAGSTER_HOME")
    try:
        with DagsterInstance.get() as instance:
            assert len(instance.get_run_records()) == 3
    finally:
        os.environ.pop("DAGSTER_HOME") if saved is None else os.environ.__setitem__("DAGSTER_HOME", saved)
    status = kbo("status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "Extract 142 (update" in status.stdout and "completed" in status.stdout
    again = kbo("import", str(zips[1]), cwd=tmp_path)
    assert again.returncode == 0 and "skipped, extract 141 is already applied" in again.stdout


def test_import_takes_database_and_fails_clearly(tmp_path):
    database = tmp_path / "other.duckdb"
    landing = tmp_path / "in"
    good = copy_to(EXTRACT_147, landing)
    bad = landing / "KboOpenData_0148_2025_10_13_Update.zip"
    bad.write_text("not a zip")
    result = kbo("import", "--database", str(database), str(good), str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "KboOpenData_0148_2025_10_13_Update.zip: not a valid ZIP file" in result.stderr
    status = kbo("status", "--database", str(database), cwd=tmp_path)
    assert "failed" in status.stdout and "not a valid ZIP" in status.stdout
    env_db = kbo("status", cwd=tmp_path, env={"KBO_DATABASE": str(database)})
    assert env_db.stdout == status.stdout


def test_bad_arguments_are_usage_errors_without_a_traceback(tmp_path):
    for bad, message in (
        ("activity=abc", "'activity=abc' is not TABLE[_OPERATION]=ROWS"),
        ("activty=5", "unknown batch size keys: activty"),
        ("activity=0", "must be at least 1"),
    ):
        result = kbo("import", "--batch-size", bad, str(EXTRACT_147), cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "data").exists()  # nothing was created


def test_every_command_names_its_database_as_an_absolute_path_and_failures_read_plainly(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    landing = tmp_path / "in"
    copy_to(EXTRACT_147, landing)
    imported = kbo("import", "--database", "rel/kbo.duckdb", "../in/" + EXTRACT_147.name, cwd=tmp_path / "elsewhere")
    absolute = str(tmp_path / "elsewhere" / "rel" / "kbo.duckdb")
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert f"database: {absolute} (new)" in imported.stdout
    status = kbo("status", "--database", "rel/kbo.duckdb", cwd=tmp_path / "elsewhere")
    assert status.stdout.startswith(f"database: {absolute}\n")
    refused = kbo("rollback", "--database", "rel/kbo.duckdb", "140", cwd=tmp_path / "elsewhere")
    assert refused.returncode == 1 and f"database: {absolute}" in refused.stdout
    summary = refused.stderr[refused.stderr.index("rollback of extract 140: FAILED") :]
    assert summary.splitlines()[1] == "  kbo_rollback_extract: extract 140 is not applied: nothing to roll back"
    assert "dagster._core" not in refused.stderr and "Stack Trace" not in refused.stderr


def test_accept_drift_from_the_command_line(tmp_path, samples):
    database = tmp_path / "kbo.duckdb"
    assert kbo("import", "--database", str(database), str(samples[0]), cwd=tmp_path).returncode == 0
    with duckdb.connect(str(database)) as conn:
        state = current_state(conn)
    state["enterprise"] = state["enterprise"][: len(state["enterprise"]) // 2]
    drifted = full_zip(tmp_path / "drift", 150, state)
    refused = kbo("import", "--database", str(database), str(drifted), cwd=tmp_path)
    assert refused.returncode == 1 and "--accept-drift" in refused.stderr, refused.stderr[-2000:]
    accepted = kbo("import", "--database", str(database), "--accept-drift", str(drifted), cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr[-2000:]


def test_a_bad_file_name_on_a_terminal_fails_without_a_traceback(tmp_path):
    bad = tmp_path / "extract-147.zip"
    bad.write_bytes(EXTRACT_147.read_bytes())
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KBO_")}, "DAGSTER_HOME": str(tmp_path / "home")}
    code, text = run_on_a_terminal([KBO, "import", str(bad)], env, cwd=tmp_path)
    assert code == 1, text[-2000:]
    assert "extract-147.zip: not a KBO extract name" in text
    assert "Traceback" not in text and "Stack Trace" not in text and "dagster._core" not in text


BENCH_FIGURES = (
    "scale small: ",
    "generate full: ",
    "reference loader (unzip, typed read_csv, primary names): ",
    "plain DuckDB read_csv of the unpacked CSVs (baseline): ",
    "an empty in-process Dagster step: ",
    "full, kbo import command: ",
    "full phases: unpack and validate ",
    "full ratio (kbo import / reference loader): ",
    "peak memory of the kbo import process (full): ",
    "current rows equal to the reference loader's: True ",
    "the Full's change-set export: ",
    "current snapshot (",
    "daily update (KboOpenData_0141_",
    "daily update phases: ",
    "spike update (KboOpenData_0142_",
    "spike update phases: ",
    "huge update (35,000 rows): ",
    "huge update phases: ",
    "daily update, kbo import command on a 20,000-enterprise register: ",
    "daily update phases (20,000 enterprises): ",
    "daily update, full register / small register: command ",
    "reconciled Full (KboOpenData_0143_",
)


def test_kbo_bench_runs_to_the_end_and_prints_every_figure(tmp_path):
    """The README's `kbo bench --scale ...`: options reach the benchmark, and every figure is printed
    (no timing is asserted: these machines are shared)."""
    bench = kbo("bench", "--scale", "small", "--keep", str(tmp_path / "bench"), cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr[-3000:]
    lines = bench.stdout.splitlines()
    for figure in BENCH_FIGURES:
        assert any(line.startswith(figure) for line in lines), f"no line starting {figure!r} in:\n{bench.stdout}"
    assert lines[-1].endswith("current rows equal to the reference loader's: True"), lines[-1]
    phases = next(line for line in lines if line.startswith("daily update phases: "))
    for phase in (
        "staging",
        "batches",
        "names",
        "checks",
        "finalize",
        "exports",
        "run outside steps",
        "launch and teardown",
    ):
        assert phase in phases


def test_kbo_changes_reads_the_change_set_while_another_process_holds_the_database(tmp_path):
    database = tmp_path / "kbo.duckdb"
    assert kbo("import", "--database", str(database), str(EXTRACT_147), cwd=tmp_path).returncode == 0
    with duckdb.connect(str(database), read_only=True) as conn:
        before = conn.execute("SELECT count(*), max(job_id) FROM import_jobs").fetchone()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KBO_", "DAGSTER_HOME"))}
    summary = run_while_held(
        database, [KBO, "changes", "--database", str(database), "147"], cwd=tmp_path, env=environment
    )
    assert summary.returncode == 0, summary.stderr
    assert "busy" in summary.stderr
    lines = summary.stdout.splitlines()
    assert lines[1] == "Extract 147: what it changed"
    assert lines[2].split() == [
        "table",
        "added",
        "retired",
        "new",
        "stopped",
        "changed",
        "unchanged",
        "renamed",
        "enterprises",
    ]
    assert lines[8].split() == ["activity", "425", "0", "49", "0", "0", "0", "0", "47"]
    rows = kbo("changes", "--database", str(database), "147", "--table", "enterprise", cwd=tmp_path)
    assert rows.returncode == 0 and rows.stdout.rstrip().endswith("(28 rows)")
    assert rows.stdout.splitlines()[1].split()[:3] == ["change", "kind", "enterprise_number"]
    unknown = kbo("changes", "--database", str(database), "147", "--table", "enterprises", cwd=tmp_path)
    assert unknown.returncode == 1 and "no table 'enterprises'" in unknown.stderr
    missing = kbo("changes", "--database", str(database), "148", cwd=tmp_path)
    assert missing.returncode == 1 and "extract 148 is not applied" in missing.stderr
    with duckdb.connect(str(database), read_only=True) as conn:  # read-only: nothing written
        assert conn.execute("SELECT count(*), max(job_id) FROM import_jobs").fetchone() == before


def test_a_cli_run_starts_its_resources_once(tmp_path):
    """Red team 10: entering Dagster's result after the run built the run's context again, starting its
    resources a second time (the import lock taken again, the state file rewritten; with a full disk a
    run that succeeded was printed FAILED). Each resource starts once per run now."""
    imported = kbo("import", str(EXTRACT_147), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-3000:]
    rolled_back = kbo("rollback", "147", cwd=tmp_path)
    assert rolled_back.returncode == 0, rolled_back.stderr[-3000:]
    os.environ["DAGSTER_HOME"], before = str(tmp_path / "data" / "dagster_home"), os.environ.get("DAGSTER_HOME")
    try:
        with DagsterInstance.get() as instance:
            records = instance.get_run_records()
            assert len(records) == 2
            for record in records:
                starts = instance.get_records_for_run(
                    record.dagster_run.run_id, of_type=DagsterEventType.RESOURCE_INIT_STARTED
                ).records
                assert len(starts) == 1, record.dagster_run.job_name
    finally:
        if before is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = before


def test_a_damaged_database_a_held_lock_and_bad_settings_read_plainly(tmp_path):
    """Red team 13: a truncated database file made `kbo status` say "busy" and `kbo audit` / `kbo changes`
    end in tracebacks; `kbo rollback` during an import ended in a DagsterResourceFunctionError traceback;
    KBO_LOCK_TIMEOUT=nan waited forever. Each is now one plain line, exit 1."""
    imported = kbo("import", str(EXTRACT_147), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-3000:]
    database = tmp_path / "data" / "kbo.duckdb"
    good = database.read_bytes()
    database.write_bytes(good[: len(good) // 3])
    for command in (["status"], ["audit"], ["changes", "147"]):
        result = kbo(*command, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stderr)
        assert (
            f"kbo {command[0]}: {database} cannot be read" in result.stderr and "damaged or truncated" in result.stderr
        )
        assert "Traceback" not in result.stderr and "busy" not in result.stderr
    database.write_bytes(good)

    bad = kbo("rollback", "147", cwd=tmp_path, env={"KBO_LOCK_TIMEOUT": "nan"})
    assert bad.returncode == 1 and "KBO_LOCK_TIMEOUT must be a number of seconds (0 or more), not 'nan'" in bad.stderr

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from kbo_pipeline.core.import_lock import ImportLock; lock = ImportLock(sys.argv[1]); "
            "lock.acquire('dagster run an-import'); print('held', flush=True); sys.stdin.read()",
            str(database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        during = kbo("rollback", "147", cwd=tmp_path, env={"KBO_LOCK_TIMEOUT": "1"})
    finally:
        holder.kill()
        holder.wait()
    assert during.returncode == 1 and "Traceback" not in during.stderr
    assert "kbo rollback: another import holds" in during.stderr and "dagster run an-import" in during.stderr
    after = kbo("rollback", "147", cwd=tmp_path)
    assert after.returncode == 0, after.stderr[-3000:]


def test_status_of_a_database_without_a_ledger_says_nothing_was_imported(tmp_path):
    """A new database (a MotherDuck one is created empty): no catalog error, a sentence."""
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    done = kbo("status", "--database", "empty.duckdb", cwd=tmp_path, env={"DAGSTER_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr
    assert "nothing imported yet: it has no kbo ledger" in done.stdout
