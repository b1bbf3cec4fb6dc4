"""The Dagster instance and workspace files that `kbo` writes into DAGSTER_HOME: the instance's
configuration (run monitoring, retries, the run queue keyed by database) and the code location."""

from __future__ import annotations

from pathlib import Path

from kbo_pipeline import settings

INSTANCE_YAML_MARK = "# Written by kbo"


KBO_HEADER = f"""\
{INSTANCE_YAML_MARK} (kbo_pipeline/cli/instance.py); delete this file to have it written again, or edit it and
# remove this first line to keep your own.
"""

DEPLOY_HEADER = """\
# The Dagster instance of the reference deployment (README: Production deployment): runs, event logs and
# schedules in PostgreSQL, from Dagster's DAGSTER_POSTGRES_* variables. Generated with kbo's own instance
# settings by `python -m kbo_pipeline.cli.instance deploy > deploy/dagster.yaml`; a test keeps the two equal.
"""

# psycopg2 named explicitly: SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3, which dagster-postgres
# 0.29 does not work with (`NOTIFY run_events, $1` is a syntax error there).
POSTGRES_STORAGE = """\
storage:
  postgres:
    postgres_db:
      username:
        env: DAGSTER_POSTGRES_USER
      password:
        env: DAGSTER_POSTGRES_PASSWORD
      hostname:
        env: DAGSTER_POSTGRES_HOSTNAME
      db_name:
        env: DAGSTER_POSTGRES_DB
      port:
        env: DAGSTER_POSTGRES_PORT
      scheme: postgresql+psycopg2
"""


# The local instance keeps Dagster's SQLite storage, with the event log that keeps its connections
# (kbo_pipeline/defs/event_log.py: about 20 ms less per step); runs and schedules stay Dagster's defaults.
SQLITE_EVENT_LOG = """\
event_log_storage:
  module: kbo_pipeline.defs.event_log
  class: KboSqliteEventLogStorage
  config:
    dagster_home:
      env: DAGSTER_HOME
"""


def deploy_instance_yaml() -> str:
    """deploy/dagster.yaml: kbo's instance settings, storage on PostgreSQL, crashed runs retried twice."""
    return instance_yaml(retries=2, header=DEPLOY_HEADER, storage=POSTGRES_STORAGE)


def instance_yaml(retries: int | None = None, header: str = KBO_HEADER, storage: str = SQLITE_EVENT_LOG) -> str:
    """The Dagster instance configuration kbo writes: no telemetry or sign-up dialog; run monitoring
    with kbo's launcher, so that a run whose process died is marked failed (within the poll interval);
    automatic retries (from failure) of such runs only, never of a data failure; and a run queue that
    lets one run at a time write a database (runs carry the tag kbo/database). Debug messages are not
    kept in the event log: each stored event costs a few ms of a step, and Dagster's IO manager
    writes two per batch step ("Loading file from", "Writing file at"); Dagster's events are kept at
    any level."""
    retries = settings.run_retries() if retries is None else retries
    return (
        header
        + storage
        + f"""\
telemetry:
  enabled: false
nux:
  enabled: false
python_logs:
  python_log_level: INFO
run_launcher:
  module: kbo_pipeline.defs.run_launcher
  class: KboRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 10
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
run_retries:
  enabled: {"true" if retries > 0 else "false"}
  max_retries: {max(retries, 0)}
  retry_on_asset_or_op_failure: false
run_coordinator:
  module: kbo_pipeline.defs.run_coordinator
  class: KboRunCoordinator
  config:
    dequeue_interval_seconds: 2
    tag_concurrency_limits:
      - key: {settings.DATABASE_TAG}
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""
    )


# The code location as `dagster dev -w workspace.yaml` loads it; `kbo ui` writes this into $DAGSTER_HOME
# so that an installed package (no source tree, no workspace.yaml) opens the same location.
WORKSPACE_YAML = """\
load_from:
  - python_module:
      module_name: kbo_pipeline.definitions
      location_name: kbo_pipeline
"""


def ensure_workspace(home: Path) -> Path:
    path = home / "workspace.yaml"
    if not path.exists() or path.read_text() != WORKSPACE_YAML:
        path.write_text(WORKSPACE_YAML)
    return path


def ensure_dagster_home() -> Path:
    """Runs started from the command line land on the same instance the UI shows: $DAGSTER_HOME,
    by default data/dagster_home under the current folder. A dagster.yaml that kbo wrote is brought up
    to date; one without kbo's first line is the user's and left alone."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    if current is None or (current.startswith(INSTANCE_YAML_MARK) and current != instance_yaml()):
        config.write_text(instance_yaml())
    return home


if __name__ == "__main__":  # python -m kbo_pipeline.cli.instance deploy > deploy/dagster.yaml
    import sys

    if sys.argv[1:] != ["deploy"]:
        sys.exit("usage: python -m kbo_pipeline.cli.instance deploy > deploy/dagster.yaml")
    sys.stdout.write(deploy_instance_yaml())
