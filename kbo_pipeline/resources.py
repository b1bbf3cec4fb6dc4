"""Dagster resources: the database (DuckDB file or MotherDuck) and the folders."""


from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field

from . import settings
from .database import connect


class KboDatabase(DuckDBResource):
    """DuckDBResource whose connections are closed even when the step fails, so a failed step never
    keeps the database file locked. `database` is a path, or `md:<name>` for MotherDuck."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.database, self.connection_config) as conn:
            yield conn


class KboPaths(ConfigurableResource):
    landing_dir: str = Field(description="Folder where extract ZIPs arrive (KBO_LANDING_DIR).")
    work_dir: str = Field(description="Folder where an extract's CSVs are unpacked during its import (KBO_WORK_DIR).")

    def zip_for(self, partition_key: str) -> Path:
        return Path(self.landing_dir) / f"{partition_key}.zip"


def default_resources() -> dict:
    return {
        "kbo_db": KboDatabase(database=settings.database_path(), connection_config=settings.duckdb_config()),
        "kbo_paths": KboPaths(landing_dir=str(settings.landing_dir()), work_dir=str(settings.work_dir())),
    }
