from pathlib import Path

import pytest

from kbo_pipeline.cli.instance import ensure_dagster_home
from kbo_pipeline.core.database import connect
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.dev.sample import write_samples
from kbo_pipeline_tests.support.files import EXTRACT_147
from kbo_pipeline_tests.support.tables import table_checksums


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> list[Path]:
    """A generated Full (140) and five consecutive Updates (141-145), written once per session."""
    return write_samples(tmp_path_factory.mktemp("samples"), updates=5, enterprises=150, changes=40, seed=7)


@pytest.fixture(scope="session")
def clean_147(tmp_path_factory) -> dict[str, tuple]:
    """The table checksums after the real extract 147 alone, as imported clean."""
    folder = tmp_path_factory.mktemp("clean-147")
    with connect(str(folder / "kbo.duckdb")) as conn:
        import_extract(conn, EXTRACT_147, folder / "work")
        return table_checksums(conn)


@pytest.fixture
def db(tmp_path):
    with connect(str(tmp_path / "kbo.duckdb")) as conn:
        yield conn


@pytest.fixture
def work_dir(tmp_path) -> Path:
    return tmp_path / "work"


@pytest.fixture(autouse=True)
def export_dir(tmp_path, monkeypatch) -> Path:
    """Every test's Parquet exports in its own folder, never data/exports of the working tree."""
    monkeypatch.setenv("KBO_EXPORT_DIR", str(tmp_path / "exports"))
    return tmp_path / "exports"


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return ensure_dagster_home()
