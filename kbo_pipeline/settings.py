"""Where things live by default; every default can be overridden by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATABASE = "data/kbo.duckdb"
DEFAULT_LANDING_DIR = "data/landing"
DEFAULT_WORK_DIR = "data/work"
DEFAULT_DAGSTER_HOME = "data/dagster_home"


def database_path() -> str:
    """KBO_DATABASE: a DuckDB file, or an `md:` path for MotherDuck."""
    return os.environ.get("KBO_DATABASE", DEFAULT_DATABASE)


def landing_dir() -> Path:
    return Path(os.environ.get("KBO_LANDING_DIR", DEFAULT_LANDING_DIR))


def work_dir() -> Path:
    """KBO_WORK_DIR: where the CSVs of an extract are unpacked while it is imported."""
    return Path(os.environ.get("KBO_WORK_DIR", DEFAULT_WORK_DIR))


def lock_timeout() -> float:
    """KBO_LOCK_TIMEOUT: how long an import waits for another import of the same database (seconds)."""
    return float(os.environ.get("KBO_LOCK_TIMEOUT", "3600"))


def extract_sensor_on() -> bool:
    """KBO_EXTRACT_SENSOR=off starts the landing-folder sensor stopped (it can still be turned on in the UI)."""
    return os.environ.get("KBO_EXTRACT_SENSOR", "on").lower() not in ("off", "0", "false", "no")


def sensor_interval() -> int:
    """KBO_SENSOR_INTERVAL: seconds between two ticks of the landing-folder sensor."""
    return int(os.environ.get("KBO_SENSOR_INTERVAL", "30"))


def portal_interval() -> int:
    """KBO_PORTAL_INTERVAL: seconds between two looks at the open-data portal."""
    return int(os.environ.get("KBO_PORTAL_INTERVAL", "3600"))


def duckdb_config() -> dict[str, str]:
    """KBO_MEMORY_LIMIT and KBO_THREADS, passed to DuckDB when set."""
    config = {}
    if os.environ.get("KBO_MEMORY_LIMIT"):
        config["memory_limit"] = os.environ["KBO_MEMORY_LIMIT"]
    if os.environ.get("KBO_THREADS"):
        config["threads"] = os.environ["KBO_THREADS"]
    return config


INSTANCE_YAML = """\
# Written by kbo on first use. No telemetry, and no sign-up dialog in the UI.
telemetry:
  enabled: false
nux:
  enabled: false
"""


def ensure_dagster_home() -> Path:
    """Runs started from the command line land on the same instance the UI shows: $DAGSTER_HOME,
    by default data/dagster_home under the current folder."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
    return home
