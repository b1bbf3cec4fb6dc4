"""Where things live by default; every default can be overridden by an environment variable."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kbo_pipeline.errors import ConfigError

DEFAULT_DATABASE = "data/kbo.duckdb"
DEFAULT_LANDING_DIR = "data/landing"
DEFAULT_WORK_DIR = "data/work"
DEFAULT_EXPORT_DIR = "data/exports"
DEFAULT_DAGSTER_HOME = "data/dagster_home"


def database_path() -> str:
    """KBO_DATABASE: a DuckDB file, or an `md:` path for MotherDuck."""
    return os.environ.get("KBO_DATABASE", DEFAULT_DATABASE)


def motherduck_token() -> str | None:
    """motherduck_token: the MotherDuck token, where DuckDB's motherduck extension reads it (lower case:
    its name there). Never printed; kbo moves a token found in an md: string here (core/motherduck.py)."""
    return os.environ.get("motherduck_token") or None  # noqa: SIM112


def landing_dir() -> Path:
    return Path(os.environ.get("KBO_LANDING_DIR", DEFAULT_LANDING_DIR))


def configured_work_dir() -> str:
    """KBO_WORK_DIR as set; empty when unset (the folder beside the database)."""
    return os.environ.get("KBO_WORK_DIR", "")


def configured_export_dir() -> str:
    """KBO_EXPORT_DIR as set; empty when unset (the folder beside the database)."""
    return os.environ.get("KBO_EXPORT_DIR", "")


def _beside(database: str | None, suffix: str, motherduck_default: str) -> Path:
    """A folder that belongs to a database: beside a local file (never relative to the folder a
    command runs in); for MotherDuck, which has no folder, under the one kbo was started in."""
    database = database or database_path()
    if database.startswith(("md:", "motherduck:")):
        # Named without its ?options (a token among them): core/motherduck.py's name_of, which imports this.
        name = database.split("?", 1)[0]
        return Path(motherduck_default).resolve() / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Path(os.path.abspath(database) + suffix)


def work_dir(database: str | None = None) -> Path:
    """KBO_WORK_DIR: where the CSVs of an extract are unpacked while it is imported; by default
    <database>.work beside the database."""
    return Path(configured_work_dir()) if configured_work_dir() else _beside(database, ".work", DEFAULT_WORK_DIR)


def export_dir(database: str | None = None) -> Path:
    """KBO_EXPORT_DIR: where the Parquet exports go (changes/extract=N/, current/, manifest.json); by
    default <database>.exports beside the database."""
    if configured_export_dir():
        return Path(configured_export_dir())
    return _beside(database, ".exports", DEFAULT_EXPORT_DIR)


def _seconds(name: str, default: str, unit: str = "seconds") -> float:
    """A duration from the environment: a finite number, not negative (nan would wait forever)."""
    text = os.environ.get(name, default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a number of {unit} (0 or more), not {text!r}")
    return value


def lock_timeout() -> float:
    """KBO_LOCK_TIMEOUT: how long an import waits for another import of the same database (seconds)."""
    return _seconds("KBO_LOCK_TIMEOUT", "3600")


def lease_seconds() -> float:
    """KBO_LEASE_SECONDS: how long a MotherDuck import lease stays valid without a heartbeat (each step of
    the holder's run renews it); a holder silent for longer is taken over."""
    return _seconds("KBO_LEASE_SECONDS", "900")


def fake_motherduck_dir() -> Path | None:
    """KBO_FAKE_MOTHERDUCK_DIR: a testing aid. `md:NAME` opens DIR/NAME.duckdb, treated in every other
    way as MotherDuck (core/motherduck.py)."""
    folder = os.environ.get("KBO_FAKE_MOTHERDUCK_DIR")
    return Path(folder) if folder else None


def hold_seconds() -> float:
    """KBO_HOLD_SECONDS: how long an import keeps the database open from step to step before it closes
    it between two steps, letting readers in (0: after every step)."""
    return _seconds("KBO_HOLD_SECONDS", "10")


def extract_sensor_on() -> bool:
    """KBO_EXTRACT_SENSOR=off starts the landing-folder sensor stopped (it can still be turned on in the UI)."""
    return os.environ.get("KBO_EXTRACT_SENSOR", "on").lower() not in ("off", "0", "false", "no")


def sensor_interval() -> int:
    """KBO_SENSOR_INTERVAL: seconds between two ticks of the landing-folder sensor."""
    return int(os.environ.get("KBO_SENSOR_INTERVAL", "30"))


def resource_retry_seconds() -> float:
    """KBO_RESOURCE_RETRY_SECONDS: how long the landing sensor waits before it launches again an extract
    whose run failed on a resource (memory, disk space), not on its content."""
    return _seconds("KBO_RESOURCE_RETRY_SECONDS", "300")


def portal_interval() -> int:
    """KBO_PORTAL_INTERVAL: seconds between two looks at the open-data portal."""
    return int(os.environ.get("KBO_PORTAL_INTERVAL", "3600"))


def max_age_hours() -> float:
    """KBO_MAX_AGE_HOURS: the freshness limit, hours since the latest extract was applied."""
    return _seconds("KBO_MAX_AGE_HOURS", "48", unit="hours")


def alert_webhook_url() -> str | None:
    """KBO_ALERT_WEBHOOK_URL: where a failed run is reported (a Slack or Teams incoming webhook)."""
    return os.environ.get("KBO_ALERT_WEBHOOK_URL") or None


def alert_timeout() -> float:
    """KBO_ALERT_TIMEOUT_SECONDS: how long posting an alert may take before it is given up."""
    return _seconds("KBO_ALERT_TIMEOUT_SECONDS", "10")


def ui_url() -> str:
    """KBO_UI_URL: the Dagster UI's address, for the links in alerts."""
    return os.environ.get("KBO_UI_URL", "http://127.0.0.1:3000").rstrip("/")


def check_environment() -> None:
    """Every numeric setting read once, so that a bad value is a plain message at the start of a
    command rather than a traceback inside a run."""
    lock_timeout()
    hold_seconds()
    resource_retry_seconds()
    max_age_hours()
    alert_timeout()
    for name, read in (
        ("KBO_SENSOR_INTERVAL", sensor_interval),
        ("KBO_PORTAL_INTERVAL", portal_interval),
        ("KBO_RUN_RETRIES", run_retries),
    ):
        try:
            if read() < 0:
                raise ValueError
        except ValueError:
            raise ConfigError(f"{name} must be a whole number (0 or more), not {os.environ.get(name)!r}") from None


# DuckDB's own default is 80 % of the machine's memory; an import then grows as far as the machine lets
# it. 2.5 GB keeps the importing process (DuckDB, Python and Dagster) under 3 GB on the full register
# (BENCHMARKS.md, issue 19); raise it on a larger machine.
DEFAULT_MEMORY_LIMIT = "2.5GB"


def duckdb_config() -> dict[str, str]:
    """KBO_MEMORY_LIMIT (default DEFAULT_MEMORY_LIMIT) and KBO_THREADS (when set), passed to DuckDB."""
    config = {"memory_limit": os.environ.get("KBO_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT}
    if os.environ.get("KBO_THREADS"):
        config["threads"] = os.environ["KBO_THREADS"]
    return config


def run_retries() -> int:
    """KBO_RUN_RETRIES: how often Dagster retries a run whose process died (0: never), when the
    instance's dagster.yaml is written."""
    return int(os.environ.get("KBO_RUN_RETRIES", "2"))


# The run tag that names the database a run writes (its absolute path): the run queue allows one run
# per value, and the landing sensor waits while a run of its database is in flight.
DATABASE_TAG = "kbo/database"


def dagster_home() -> Path:
    """DAGSTER_HOME, set to data/dagster_home under the current folder when unset, so that runs started
    from the command line land on the instance the UI shows."""
    return Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))


def use_dagster_home(path: Path) -> None:
    """Point this process (and the Dagster processes it starts) at another instance."""
    os.environ["DAGSTER_HOME"] = str(path)


def set_variable(name: str, value: str) -> None:
    """Set a variable in this process's environment (a benchmark pointing Dagster at its own server)."""
    os.environ[name] = value


def unset(name: str) -> None:
    """Drop a setting from this process's environment, so that its default applies."""
    os.environ.pop(name, None)


def log_level(default: str = "INFO") -> str:
    """KBO_LOG_LEVEL: the level of the runs' console log (and of `kbo` on a terminal)."""
    return os.environ.get("KBO_LOG_LEVEL", default)


def failpoints() -> str | None:
    """KBO_FAILPOINTS: test-only crash points (core/failpoints.py); unset in production."""
    return os.environ.get("KBO_FAILPOINTS") or None


@dataclass(frozen=True)
class PortalSettings:
    url: str
    username: str | None
    password: str | None
    allow_http: bool
    max_download_bytes: int


DEFAULT_PORTAL_URL = "https://kbopub.economie.fgov.be/kbo-open-data"
DEFAULT_MAX_DOWNLOAD_BYTES = 4 * 1024**3  # a Full is about 300 MB; a cap, not an estimate


def portal() -> PortalSettings:
    """KBO_PORTAL_URL, KBO_USERNAME, KBO_PASSWORD, KBO_PORTAL_ALLOW_HTTP, KBO_PORTAL_MAX_BYTES."""
    raw = os.environ.get("KBO_PORTAL_MAX_BYTES", str(DEFAULT_MAX_DOWNLOAD_BYTES))
    try:
        max_bytes = int(raw)
    except ValueError:
        raise ConfigError(f"KBO_PORTAL_MAX_BYTES must be a number of bytes, not {raw!r}") from None
    return PortalSettings(
        url=os.environ.get("KBO_PORTAL_URL", DEFAULT_PORTAL_URL).rstrip("/"),
        username=os.environ.get("KBO_USERNAME"),
        password=os.environ.get("KBO_PASSWORD"),
        allow_http=os.environ.get("KBO_PORTAL_ALLOW_HTTP", "").lower() in ("1", "true", "yes", "on"),
        max_download_bytes=max_bytes,
    )


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment for a process it starts (dagster dev, a benchmark's run), with overrides."""
    return {**os.environ, **overrides}
