"""The reference deployment (deploy/) as a team runs it: the Dagster instance on a real PostgreSQL server
(Debian's packages, started here on 127.0.0.1 and stopped), and the code server, the daemon and the
webserver as three separate processes, loaded through deploy/workspace.yaml. Without the PostgreSQL
server binaries the server tests are skipped, unless KBO_REQUIRE_POSTGRES is set (CI sets it)."""

import configparser
import os
import shutil
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from kbo_pipeline.cli.instance import POSTGRES_STORAGE, deploy_instance_yaml
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.extract import parse_file_name
from kbo_pipeline.dev.postgres import PostgresMissing, postgres_server
from kbo_pipeline_tests.support.files import ROOT
from kbo_pipeline_tests.support.replay import assert_equals_replay
from kbo_pipeline_tests.support.runs import wait_until
from kbo_pipeline_tests.support.webserver import Service, Webserver, command, free_port

pytestmark = pytest.mark.deployment
DEPLOY = ROOT / "deploy"


def test_deploy_dagster_yaml_is_kbo_instance_settings_on_postgresql():
    """One source for the instance's settings: the file is generated from cli/instance.py."""
    text = (DEPLOY / "dagster.yaml").read_text()
    assert text == deploy_instance_yaml(), (
        "regenerate: python -m kbo_pipeline.cli.instance deploy > deploy/dagster.yaml"
    )
    config = yaml.safe_load(text)
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["run_coordinator"]["class"] == "KboRunCoordinator"
    assert config["run_launcher"]["class"] == "KboRunLauncher"
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False


def test_the_compose_file_and_the_units_parse_and_name_what_exists():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert {"postgres", "code-server", "webserver", "daemon"} <= set(compose["services"])
    build = compose["services"]["code-server"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert (context / build["dockerfile"]).is_file() and (context / "pyproject.toml").is_file()
    for name, service in compose["services"].items():
        assert "healthcheck" in service and "restart" in service, name
        for env_file in [service["env_file"]] if "env_file" in service else []:
            assert (DEPLOY / env_file).is_file(), env_file
    # What the Dockerfile copies exists in the context.
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), source
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read(unit)
        program = Path(parser["Service"]["ExecStart"].split()[0]).name
        assert program in ("dagster", "dagster-daemon", "dagster-webserver") and Path(command(program)).exists()
        assert (DEPLOY / "systemd" / Path(parser["Service"]["EnvironmentFile"]).name).is_file()


@pytest.fixture
def postgres():
    try:
        with postgres_server() as server:
            yield server
    except PostgresMissing as exc:
        if os.environ.get("KBO_REQUIRE_POSTGRES"):
            raise
        pytest.skip(str(exc))


class Deployment:
    """deploy/dagster.yaml in a fresh DAGSTER_HOME, and the three services as separate processes."""

    def __init__(self, postgres, tmp_path: Path, monkeypatch, extra_env: dict | None = None, instance: str = ""):
        """`instance`: another dagster.yaml than deploy's (a team's own)."""
        self.home = tmp_path / "dagster_home"
        self.home.mkdir()
        (self.home / "dagster.yaml").write_text(instance or (DEPLOY / "dagster.yaml").read_text())
        self.landing = tmp_path / "landing"
        self.landing.mkdir()
        self.database = str(tmp_path / "kbo.duckdb")
        self.tmp_path = tmp_path
        self.env = {
            **postgres.environment(),
            "DAGSTER_HOME": str(self.home),
            "KBO_DATABASE": self.database,
            "KBO_LANDING_DIR": str(self.landing),
            "KBO_WORK_DIR": str(tmp_path / "work"),
            "KBO_EXPORT_DIR": "",
            "KBO_SENSOR_INTERVAL": "2",
            "KBO_CODE_SERVER_HOST": "127.0.0.1",
            "KBO_CODE_SERVER_PORT": str(free_port()),
            **(extra_env or {}),
        }
        for key, value in self.env.items():  # this process reads the same instance
            monkeypatch.setenv(key, value)
        self.workspace = DEPLOY / "workspace.yaml"
        self.code_server = self.daemon = self.webserver = None

    def start_code_server(self) -> None:
        self.code_server = Service(
            [
                command("dagster"),
                *("code-server", "start", "-h", "127.0.0.1", "-p", self.env["KBO_CODE_SERVER_PORT"]),
                *("-m", "kbo_pipeline.definitions", "--location-name", "kbo_pipeline"),
            ],
            self.env,
            self.tmp_path,
            self.tmp_path / "code-server.log",
        )

    def start_daemon(self) -> None:
        self.daemon = Service(
            [command("dagster-daemon"), "run", "-w", str(self.workspace)],
            self.env,
            self.tmp_path,
            self.tmp_path / "daemon.log",
        )

    def start_webserver(self) -> None:
        """Up once it has loaded the code location from the code server."""
        self.webserver = Webserver(
            self.env,
            self.tmp_path,
            self.tmp_path / "webserver.log",
            [command("dagster-webserver"), "-w", str(self.workspace)],
        )

    def start(self) -> None:
        self.start_code_server()
        self.start_webserver()
        self.start_daemon()

    def stop(self) -> None:
        for service in (self.daemon, self.webserver, self.code_server):
            if service is not None:
                service.stop()

    def runs(self) -> list[dict]:
        """The import runs (not, say, the hourly freshness check's, which may fire during a test)."""
        data = self.webserver.graphql(
            "{ runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }"
        )["runsOrError"]["results"]
        return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in data if r["jobName"] == "kbo_import"]

    def wait_until(self, condition, what: str, timeout: float = 300):
        return wait_until(
            condition, what, timeout, lambda: "\n".join(p.read_text()[-2000:] for p in self.tmp_path.glob("*.log"))
        )

    def successful_partitions(self) -> list[str]:
        return sorted(r["tags"].get("dagster/partition", "") for r in self.runs() if r["status"] == "SUCCESS")


@pytest.fixture
def deployment(postgres, tmp_path, monkeypatch):
    made = []

    def make(extra_env=None, instance=""):
        made.append(Deployment(postgres, tmp_path, monkeypatch, extra_env, instance))
        return made[-1]

    yield make
    for deployed in made:
        deployed.stop()


def test_the_sensor_applies_a_full_and_two_updates_and_a_restart_keeps_everything(deployment, samples):
    deployed = deployment()
    deployed.start()
    for path in samples[:3]:
        shutil.copy(path, deployed.landing)
    keys = sorted(p.stem for p in samples[:3])
    deployed.wait_until(lambda: deployed.successful_partitions() == keys, "three runs applied by the sensor")
    with connect(deployed.database, read_only=True, lock_wait_seconds=60) as conn:  # the sensor reads it too
        assert_equals_replay(conn, samples[:3])
        batches = dict(
            conn.execute(
                "SELECT j.dagster_run_id, count(*) FROM import_job_batches b JOIN import_jobs j USING (job_id) "
                "GROUP BY ALL"
            ).fetchall()
        )
    # GraphQL shows one step per batch of each Update; the Full, into an empty database, was read
    # straight into its tables by its staging step (its ledger batches completed there).
    for run in deployed.runs():
        steps = deployed.webserver.graphql(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { stepStats { stepKey status } } } }",
            {"id": run["runId"]},
        )["runOrError"]["stepStats"]
        applied = [s for s in steps if s["stepKey"].startswith("applied_tables.kbo_apply_batch[")]
        full = run["tags"].get("dagster/partition") == samples[0].stem
        assert len(applied) == (0 if full else batches[run["runId"]]) and all(s["status"] == "SUCCESS" for s in applied)
    before = {r["runId"] for r in deployed.runs()}

    # Every service restarted: the runs (and the sensor's state) are in PostgreSQL; nothing runs again,
    # and the next extract dropped in is applied once.
    deployed.stop()
    deployed.start()
    assert {r["runId"] for r in deployed.runs()} == before
    shutil.copy(samples[3], deployed.landing)
    keys = sorted([*keys, samples[3].stem])
    deployed.wait_until(lambda: deployed.successful_partitions() == keys, "the fourth extract applied")
    assert len(deployed.runs()) == 4
    with connect(deployed.database, read_only=True, lock_wait_seconds=60) as conn:  # the sensor reads it too
        assert_equals_replay(conn, samples[:4])


def test_code_server_and_daemon_killed_mid_run_are_recovered(deployment, samples, tmp_path):
    """The code server (and the run it was executing) and the daemon are SIGKILLed while a batch of
    Update 141 waits before its commit; started again, run monitoring reports the run failed, the run is
    retried from failure, and the database equals the replay."""
    marker = tmp_path / "hold"
    update = parse_file_name(samples[1].name)[0]
    deployed = deployment({"KBO_FAILPOINTS": f"{update}/*:wait_before_commit:{marker}"})
    marker.touch()
    deployed.start()
    for path in samples[:2]:
        shutil.copy(path, deployed.landing)
    reached = Path(f"{marker}.reached")
    deployed.wait_until(reached.exists, "a batch of the Update held before its commit")
    deployed.code_server.kill()
    deployed.daemon.kill()
    marker.unlink()
    deployed.start_code_server()
    deployed.start_daemon()
    with DagsterInstance.get() as instance:

        def recovered():
            runs = [r for r in instance.get_runs() if r.tags.get("dagster/partition") == samples[1].stem]
            failed = [r for r in runs if r.status == DagsterRunStatus.FAILURE]
            done = [r for r in runs if r.status == DagsterRunStatus.SUCCESS]
            return (failed, done) if failed and done else None

        failed, done = deployed.wait_until(recovered, "the killed run failed and its retry succeeded")
    assert done[0].tags.get("dagster/parent_run_id") in {r.run_id for r in failed}
    with connect(deployed.database, read_only=True, lock_wait_seconds=60) as conn:  # the sensor reads it too
        assert_equals_replay(conn, samples[:2])


def test_on_dagsters_default_launcher_and_coordinator_runs_stay_apart_and_a_crash_is_reported(
    deployment, samples, tmp_path
):
    """A team's existing instance: PostgreSQL storage and nothing of kbo's (Dagster's default run launcher
    and coordinator, no run monitoring, no retries). A second import of the same database waits for the
    import lock instead of running beside the first; killed, both runs are reported failed by the landing
    sensor's tick, and re-executing them from failure (the manual part) completes the imports."""
    marker = tmp_path / "hold"
    full = parse_file_name(samples[0].name)[0]
    deployed = deployment(
        {"KBO_FAILPOINTS": f"{full}/*:wait_before_commit:{marker}"},
        instance="telemetry:\n  enabled: false\n" + POSTGRES_STORAGE,
    )
    marker.touch()
    deployed.start()
    shutil.copy(samples[0], deployed.landing)
    deployed.wait_until(Path(f"{marker}.reached").exists, "the Full held before a commit")
    elsewhere = tmp_path / "elsewhere"  # not in the landing folder: the sensor leaves it to this test
    elsewhere.mkdir()
    update_zip = shutil.copy(samples[1], elsewhere)
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("kbo_extracts", [samples[1].stem])
        second = deployed.webserver.launch_run(
            "kbo_import", samples[1].stem, {"ops": {"kbo_extract": {"config": {"zip_path": str(update_zip)}}}}
        )

        def waits_for_the_lock():
            return any("waiting for the import lock" in (e.user_message or "") for e in instance.all_logs(second))

        deployed.wait_until(waits_for_the_lock, "the second run waiting for the first one's import lock")
        first = next(r.run_id for r in instance.get_runs() if r.tags.get("dagster/partition") == samples[0].stem)
        deployed.code_server.kill()  # the host of both runs crashed
        marker.unlink()
        deployed.start_code_server()

        def reported():
            runs = [instance.get_run_by_id(run_id) for run_id in (first, second)]
            return all(r.status == DagsterRunStatus.FAILURE for r in runs) and runs

        for run in deployed.wait_until(reported, "both runs reported failed by the sensor"):
            failure = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_FAILURE).records
            assert "run worker died" in failure[-1].event_log_entry.dagster_event.message
    for run_id in (first, second):
        assert deployed.webserver.wait_for(deployed.webserver.reexecute(run_id)) == "SUCCESS"
    with connect(deployed.database, read_only=True, lock_wait_seconds=60) as conn:  # the sensor reads it too
        assert_equals_replay(conn, samples[:2])
