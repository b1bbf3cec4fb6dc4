from pathlib import Path

import pytest

from kbo_pipeline.cli.instance import ensure_dagster_home
from kbo_pipeline.core.database import connect
from kbo_pipeline.dev.sample import write_samples


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> list[Path]:
    """A generated Full (140) and five consecutive Updates (141-145), written once per session."""
    return write_samples(tmp_path_factory.mktemp("samples"), updates=5, enterprises=150, changes=40, seed=7)


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
