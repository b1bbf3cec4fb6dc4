"""The contract with the real MotherDuck, for a user with an account: `motherduck_token` in the
environment and the MotherDuck client installed (make install-motherduck), then

    .venv-motherduck/bin/pytest -m motherduck_live

It creates a scratch database, imports the real extract 147 into it, checks the counts and drops it.
Skipped without a token (CI has none, and no network)."""

import uuid

import pytest

from kbo_pipeline import settings
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline_tests.support.files import EXTRACT_147, ROWS_147

pytestmark = pytest.mark.motherduck_live


def test_extract_147_imports_into_a_scratch_motherduck_database(tmp_path):
    if not settings.motherduck_token():
        pytest.skip("needs motherduck_token in the environment (and the network)")
    name = f"kbo_contract_{uuid.uuid4().hex[:12]}"
    with connect("md:") as admin:
        admin.execute(f"CREATE DATABASE {name}")  # a generated identifier, never a user's value
    try:
        with connect(f"md:{name}") as conn:
            result = import_extract(conn, EXTRACT_147, tmp_path / "work")
            assert result.final is not None
            for table, rows in ROWS_147.items():
                count = conn.execute(f"SELECT count(*) FROM {table} WHERE _extract_number = 147").fetchone()[0]
                assert count == rows, table
    finally:
        with connect("md:") as admin:
            admin.execute(f"DROP DATABASE {name}")
