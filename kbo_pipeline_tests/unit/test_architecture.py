"""The layers the tree shows, held: the core and the sources never import Dagster; Dagster's own
tooling loads the code location; and the graph of definitions changes only with a visible diff."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from kbo_pipeline import definitions
from kbo_pipeline_tests.support.files import ROOT

PACKAGE = ROOT / "kbo_pipeline"
PLAIN = ("core", "sources")  # no Dagster in these
SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "definitions.txt"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_and_sources_do_not_import_dagster():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0].startswith("dagster"))
        for layer in PLAIN
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert not {path: names for path, names in offenders.items() if names}
    # Nor through a module they import: load them all in a fresh interpreter and look.
    modules = [
        f"kbo_pipeline.{layer}.{p.stem}"
        for layer in PLAIN
        for p in (PACKAGE / layer).glob("*.py")
        if p.stem != "__init__"
    ]
    probe = f"import sys\nfor m in {modules!r}: __import__(m)\nprint(sorted(m for m in sys.modules if m.startswith('dagster')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout


def describe_definitions() -> str:
    """Every asset key (with what it depends on), check, job, sensor and schedule of the code location, one per line, sorted."""
    defs = definitions.defs
    graph = defs.resolve_asset_graph()
    lines = [
        f"asset {key.to_user_string()} <- {', '.join(sorted(p.to_user_string() for p in graph.get(key).parent_keys)) or '-'}"
        for key in graph.get_all_asset_keys()
    ]
    lines += [f"check {key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys]
    lines += [f"job {job.name}" for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    lines += [
        f"sensor {sensor.name} -> {sensor.job_name if sensor.targets else '(runs of every job)'}"
        for sensor in defs.sensors or ()
    ]
    lines += [f"schedule {s.name} -> {s.job_name} at {s.cron_schedule}" for s in defs.schedules or ()]
    return "\n".join(sorted(lines)) + "\n"


def test_the_definitions_are_the_snapshot():
    """A change to the graph of assets, checks, jobs, sensors or schedules shows as a diff of
    snapshots/definitions.txt; run with KBO_UPDATE_SNAPSHOT=1 to accept it."""
    current = describe_definitions()
    if os.environ.get("KBO_UPDATE_SNAPSHOT"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert current == SNAPSHOT.read_text()


def test_dg_check_defs(tmp_path):
    dg = Path(sys.executable).with_name("dg")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KBO_")}, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run([str(dg), "check", "defs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


LEDGER_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+import_job(s|_batches)\b", re.IGNORECASE)
LEDGER_OWNERS = {"kbo_pipeline/core/ledger.py", "sql/stage_batches.sql"}  # the template ledger.add_batches runs


def test_only_the_ledger_writes_the_ledger():
    """import_jobs and import_job_batches change only through core/ledger.py's state transitions."""
    writers = {
        str(path.relative_to(ROOT))
        for path in [*PACKAGE.rglob("*.py"), *(ROOT / "sql").rglob("*.sql")]
        if LEDGER_WRITE.search(path.read_text())
    }
    assert writers == LEDGER_OWNERS


def test_only_settings_reads_the_environment():
    """Every environment variable is read in settings.py, so that one file lists what configures kbo."""
    readers = {
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if path.name != "settings.py" and re.search(r"\bos\.environ\b|\bgetenv\(|\benviron\.get\(", path.read_text())
    }
    assert not readers


def test_definitions_load_the_defs_package_without_lists_by_hand():
    """definitions.py names no asset, job or sensor: whatever a module of defs/ defines is in the code
    location, and nothing else."""
    source = (PACKAGE / "definitions.py").read_text()
    assert "from kbo_pipeline.defs." not in source
    defs = definitions.defs
    assert {s.name for s in defs.sensors} == {"kbo_extract_sensor", "kbo_portal_sensor", "kbo_alert_on_failure"}
    assert set(defs.resources) == {"kbo_db", "kbo_paths"} and set(defs.loggers) == {"console"}
