"""MotherDuck: which DuckDB clients it accepts, its `md:` names without their secrets, and what its
connection errors mean.

A MotherDuck database is named `md:NAME` (or `motherduck:NAME`), optionally with `?key=value` options;
the token may ride in them (`md:kbo?motherduck_token=...`). The project derives names from the database
everywhere (run tags, folders, lock and state files, every line it prints), so the string is normalised
first: the options are stripped, a token among them moves to this process's environment
(`motherduck_token`, where DuckDB's motherduck extension reads it, and where the run processes inherit
it), and nothing downstream ever sees it.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs

import duckdb

from kbo_pipeline import settings
from kbo_pipeline.core.alerts import redact
from kbo_pipeline.errors import ConfigError, FinalError, TransientError

PREFIXES = ("md:", "motherduck:")

# The DuckDB clients MotherDuck accepts, oldest and newest: its documentation, troubleshooting/
# version-lifecycle-schedules, and the machine-readable duckdb-versions.json beside it (late 2026).
# constraints/motherduck.txt pins the newest; a test keeps the two equal.
CLIENTS = ("1.4.1", "1.5.6")
INSTALL = "pip install -e '.[test]' -c constraints/motherduck.txt (or: make install-motherduck)"


class MotherDuckUnreachable(TransientError):
    """The motherduck extension did not load, or the service did not answer or refused the token."""


class MotherDuckDatabaseMissing(FinalError):
    """The account has no database of that name."""


def is_motherduck(database: str) -> bool:
    return database.startswith(PREFIXES)


def name_of(database: str) -> str:
    """The database with its `?options` stripped (a MotherDuck token among them): the name every
    derived name and every printed line uses. A local path is returned as it is."""
    return database.split("?", 1)[0] if is_motherduck(database) else database


def token_in(database: str) -> str | None:
    if not is_motherduck(database) or "?" not in database:
        return None
    values = parse_qs(database.split("?", 1)[1]).get("motherduck_token")
    return values[0] if values else None


def adopt_token(database: str) -> str:
    """The normalised name; a token in the string goes to the environment (for compatibility: the
    environment is where it belongs)."""
    token = token_in(database)
    if token:
        settings.set_variable("motherduck_token", token)
    return name_of(database)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_client(database: str, version: str = duckdb.__version__) -> None:
    """Refuse, before any network call, a client MotherDuck does not accept."""
    oldest, newest = CLIENTS
    if not _version(oldest) <= _version(version) <= _version(newest):
        raise ConfigError(
            f"{name_of(database)}: MotherDuck accepts DuckDB clients {oldest} to {newest}, and this is DuckDB "
            f"{version}; install the MotherDuck client with: {INSTALL}"
        )


def connection_error(database: str, exc: BaseException) -> FinalError | TransientError:
    """What a failed connection to MotherDuck means, said without the token: a database that does not
    exist (how to create it), or MotherDuck unreachable (the extension, the network, the token)."""
    name = name_of(database)
    first = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    lowered = first.lower()
    if ("not found" in lowered and "database" in lowered) or "does not exist" in lowered:
        short = name.split(":", 1)[1]
        return MotherDuckDatabaseMissing(
            f"{name} does not exist in this MotherDuck account: create it first, e.g. "
            f"`duckdb md: -c 'CREATE DATABASE {short}'` or in the MotherDuck UI ({first})"
        )
    return MotherDuckUnreachable(f"MotherDuck unreachable: {name}: {first}")


# The test seam: KBO_FAKE_MOTHERDUCK_DIR. MotherDuck's rule is kept: one connection configuration per
# database per process (MotherDuck keeps an instance 15 minutes after close, refusing any other).
_CONFIGS: dict[str, dict] = {}


def fake_path(database: str) -> Path | None:
    """DIR/NAME.duckdb for `md:NAME` under KBO_FAKE_MOTHERDUCK_DIR; None when the seam is off."""
    folder = settings.fake_motherduck_dir()
    if folder is None or not is_motherduck(database):
        return None
    return folder / f"{name_of(database).split(':', 1)[1]}.duckdb"


def remember_config(database: str, config: dict) -> None:
    """Refuse a second configuration for a database this process opened (the fake enforces it; the real
    service refuses it the same way)."""
    name = name_of(database)
    first = _CONFIGS.setdefault(name, dict(config))
    if first != dict(config):
        raise ConfigError(
            f"{name} is open in this process with DuckDB settings {first}; MotherDuck refuses another "
            f"configuration ({dict(config)}) for 15 minutes after close"
        )
