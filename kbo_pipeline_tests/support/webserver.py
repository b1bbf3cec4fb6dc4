"""`dagster dev` (the webserver and the daemon that launches queued runs), started by a test on
127.0.0.1 at a free port and stopped by it, and the webserver's GraphQL API."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from kbo_pipeline_tests.support.files import ROOT

WORKSPACE = ROOT / "workspace.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name: str) -> str:
    """A console script of this environment (dagster, dagster-daemon, ...)."""
    return str(Path(sys.executable).with_name(name))


class Service:
    """A long-running process in a process group of its own, its output in a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.log = log
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=open(log, "a"),  # noqa: SIM115 - the child writes it; closed when this process ends
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and every process it started
        )

    def kill(self) -> None:
        """The process and every process it started, SIGKILLed at once: a crash, no clean-up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass


class Webserver(Service):
    def __init__(self, env: dict[str, str], cwd: Path, log: Path, argv: list[str] | None = None):
        """`dagster dev` on the repository's workspace by default (in its process group: the webserver,
        the daemon and the code servers); `argv` runs another webserver command (dagster-webserver -w ...),
        to which host and port are added. Up once the code location has loaded."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = argv or [command("dagster"), "dev", "-w", str(WORKSPACE)]
        log.unlink(missing_ok=True)
        super().__init__([*argv, "-h", "127.0.0.1", "-p", str(self.port)], env, cwd, log)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"webserver exited: {self.log.read_text()[-3000:]}")
            try:
                data = self.graphql(
                    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name "
                    "locationOrLoadError { __typename } } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("webserver did not come up")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.load(response)
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    def launch_run(self, job: str, partition: str, run_config: dict | None = None) -> str:
        data = self.graphql(
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
                 __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
                 ... on RunConfigValidationInvalid { errors { message } } } }""",
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": "kbo_pipeline",
                        "repositoryName": "__repository__",
                        "jobName": job,
                    },
                    "runConfigData": run_config or {},
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
                }
            },
        )["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def reexecute(self, parent_run_id: str, strategy: str = "FROM_FAILURE") -> str:
        """The mutation the UI's "Re-execute from failure" calls."""
        data = self.graphql(
            """mutation($params: ReexecutionParams) { launchPipelineReexecution(reexecutionParams: $params) {
                 __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            {"params": {"parentRunId": parent_run_id, "strategy": strategy}},
        )["launchPipelineReexecution"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def terminate(self, run_id: str) -> None:
        data = self.graphql(
            """mutation($runId: String!) { terminateRun(runId: $runId) { __typename
                 ... on TerminateRunFailure { message } ... on PythonError { message } } }""",
            {"runId": run_id},
        )["terminateRun"]
        assert data["__typename"] == "TerminateRunSuccess", data

    def run_status(self, run_id: str) -> str:
        return self.graphql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})[
            "runOrError"
        ]["status"]

    def wait_for(self, run_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.run_status(run_id)
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(0.5)
        raise TimeoutError(f"run {run_id} still running")

    @staticmethod
    def step_keys(run_id: str, event_type: str = "STEP_SUCCESS") -> list[str]:
        """Steps of a run with that event, read from the instance the webserver uses ($DAGSTER_HOME)."""

        with DagsterInstance.get() as instance:
            records = instance.get_records_for_run(run_id, of_type=DagsterEventType(event_type), limit=100_000).records
        return [r.event_log_entry.step_key for r in records]
