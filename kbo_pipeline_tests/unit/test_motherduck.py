"""MotherDuck without a network: the clients it accepts, names without their token, and errors that say
what happened. (The project cannot reach MotherDuck from here: what it does with an unreachable one is
what these test.)"""

import re

import duckdb
import pytest

from kbo_pipeline import settings
from kbo_pipeline.core.database import resolve_database
from kbo_pipeline.core.motherduck import (
    CLIENTS,
    MotherDuckDatabaseMissing,
    MotherDuckUnreachable,
    adopt_token,
    check_client,
    connection_error,
    name_of,
)
from kbo_pipeline.errors import ConfigError
from kbo_pipeline_tests.e2e.test_cli import kbo
from kbo_pipeline_tests.support.files import EXTRACT_147, ROOT

pytestmark = pytest.mark.motherduck

TOKEN = "fake-token-7f3a9c"  # searched for in every output and file these tests leave


def test_the_client_range_is_written_once_and_the_install_pins_its_newest():
    pins = re.findall(r"^duckdb==(\S+)$", (ROOT / "constraints" / "motherduck.txt").read_text(), re.MULTILINE)
    assert pins == [CLIENTS[1]]
    # pyproject's range admits both the default client and MotherDuck's.
    requirement = re.search(r'"duckdb([^"]*)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert requirement == f">={CLIENTS[0]},<=2.0.0"


@pytest.mark.parametrize("version", ["1.4.1", "1.5.0", "1.5.6"])
def test_a_client_motherduck_accepts_passes(version):
    check_client("md:kbo", version)


@pytest.mark.parametrize("version", ["1.4.0", "1.5.7", "2.0.0"])
def test_a_client_motherduck_refuses_is_refused_naming_both_versions_and_the_install(version):
    with pytest.raises(ConfigError) as refused:
        check_client(f"md:kbo?motherduck_token={TOKEN}", version)
    message = str(refused.value)
    assert f"MotherDuck accepts DuckDB clients {CLIENTS[0]} to {CLIENTS[1]}, and this is DuckDB {version}" in message
    assert "-c constraints/motherduck.txt" in message
    assert TOKEN not in message


def test_a_name_loses_its_options_and_the_token_moves_to_the_environment(monkeypatch):
    # setenv first, so that the token adopt_token writes is undone after the test (delenv alone records
    # nothing to restore when the variable was unset).
    monkeypatch.setenv("motherduck_token", "placeholder")
    monkeypatch.delenv("motherduck_token")
    assert name_of(f"md:kbo?motherduck_token={TOKEN}&attach_mode=single") == "md:kbo"
    assert name_of(f"motherduck:kbo?motherduck_token={TOKEN}") == "motherduck:kbo"
    assert name_of("data/kbo.duckdb") == "data/kbo.duckdb"
    assert adopt_token(f"md:kbo?motherduck_token={TOKEN}") == "md:kbo"
    assert resolve_database(f"md:kbo?motherduck_token={TOKEN}") == "md:kbo"
    assert settings.motherduck_token() == TOKEN


def test_connection_errors_say_unreachable_or_missing_without_the_token():
    offline = duckdb.IOException(
        f'IO Error: Failed to download extension "motherduck" (md:kbo?motherduck_token={TOKEN})'
    )
    error = connection_error(f"md:kbo?motherduck_token={TOKEN}", offline)
    assert isinstance(error, MotherDuckUnreachable)
    assert str(error).startswith("MotherDuck unreachable: md:kbo: IO Error: Failed to download extension")
    assert TOKEN not in str(error) and "busy" not in str(error)
    missing = connection_error("md:kbo", duckdb.CatalogException("Catalog Error: database 'kbo' not found"))
    assert isinstance(missing, MotherDuckDatabaseMissing)
    assert "CREATE DATABASE kbo" in str(missing)


@pytest.mark.parametrize(
    "command", [("status",), ("audit",), ("import", str(EXTRACT_147))], ids=["status", "audit", "import"]
)
def test_an_unreachable_motherduck_fails_each_command_clearly_and_leaks_no_token(command, tmp_path):
    """The token in the md: string and in the environment: the command exits 1 saying why (this client
    refused, or MotherDuck unreachable), never "busy", and the token is nowhere in its output or files."""
    env = {"DAGSTER_HOME": str(tmp_path / "dagster_home"), "KBO_WORK_DIR": str(tmp_path / "work")}
    env["motherduck_token"] = TOKEN + "-env"
    done = kbo(*command, "--database", f"md:kbo?motherduck_token={TOKEN}", cwd=tmp_path, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    try:
        check_client("md:kbo")
        assert "MotherDuck unreachable: md:kbo:" in output, output
    except ConfigError:
        assert "MotherDuck accepts DuckDB clients" in output, output
    assert "busy" not in output and TOKEN not in output
    for path in tmp_path.rglob("*"):
        assert TOKEN not in path.name
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
