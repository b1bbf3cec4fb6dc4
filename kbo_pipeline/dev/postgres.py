"""A throwaway PostgreSQL server for the deployment tests and the instance benchmark: the distribution's
binaries (Debian's `postgresql` package), a data folder of its own, 127.0.0.1 at a free port, trust
authentication, stopped and removed at the end. PostgreSQL refuses to run as root: as root, the server
runs as `nobody` in a folder that user owns."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "nobody"


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def server_binaries() -> Path:
    """The folder of initdb and pg_ctl: the newest /usr/lib/postgresql/<version>/bin."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise PostgresMissing("no PostgreSQL server: apt-get install postgresql (Debian's packages)")
    return found[-1].parent


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    database: str

    def environment(self) -> dict[str, str]:
        """Dagster's variables for this server, as deploy/dagster.yaml reads them."""
        return {
            "DAGSTER_POSTGRES_USER": self.user,
            "DAGSTER_POSTGRES_PASSWORD": "unused-trust-auth",
            "DAGSTER_POSTGRES_DB": self.database,
            "DAGSTER_POSTGRES_HOSTNAME": self.host,
            "DAGSTER_POSTGRES_PORT": str(self.port),
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server(database: str = "dagster", durable: bool = False) -> Iterator[PostgresServer]:
    """`durable`: fsync on, as in production (a benchmark); off by default (tests: nothing to keep)."""
    binaries = server_binaries()
    # Not under pytest's tmp_path: its parents are private to root, and the server user must reach the folder.
    root = Path(tempfile.mkdtemp(prefix="kbo-postgres-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
    data, port = root / "data", _free_port()
    log = root / "server.log"
    pg_ctl = str(binaries / "pg_ctl")
    try:
        subprocess.run(
            _as_server_user(
                [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1" + ("" if durable else " -c fsync=off")
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "120", "start"]),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database],
            check=True,
            capture_output=True,
        )
        yield PostgresServer("127.0.0.1", port, "postgres", database)
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
