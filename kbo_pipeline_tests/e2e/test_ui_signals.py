"""`kbo ui` passes SIGTERM and SIGINT on to what it started: the webserver, the daemon and the code
servers end with it (red team 9: signalled, `kbo ui` ended alone and the sensor went on importing)."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kbo_pipeline.cli.main import group_alive
from kbo_pipeline.core.run_worker import processes
from kbo_pipeline_tests.support.webserver import free_port

KBO = str(Path(sys.executable).with_name("kbo"))


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kbo ui exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"kbo ui did not come up: {log.read_text()[-3000:]}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_kbo_ui_ends_everything_it_started(tmp_path, signum):
    port = free_port()
    log = tmp_path / "ui.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KBO_", "DAGSTER_HOME"))}
    env |= {"KBO_EXTRACT_SENSOR": "off"}
    with open(log, "w") as out:
        ui = subprocess.Popen(
            [KBO, "ui", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as a service manager or a terminal would: its own group
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", ui, log)
        dagster_group = next(int(fields[2]) for fields in processes() if int(fields[1]) == ui.pid)
        assert dagster_group != os.getpgid(ui.pid)  # dagster dev runs in a group of its own
        assert group_alive(dagster_group)
        os.kill(ui.pid, signum)  # kbo alone, as `kill PID` or a service manager's stop does
        assert ui.wait(timeout=180) is not None
        assert not group_alive(dagster_group), log.read_text()[-3000:]
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
