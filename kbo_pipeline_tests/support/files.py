"""The test data on disk: the real extract 147, copying a file into a folder, rewriting an extract."""

import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project: pyproject.toml, workspace.yaml, sql/
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXTRACT_147 = FIXTURES / "KboOpenData_0147_2025_10_12_Update.zip"


def rewritten(folder: Path, change, original: Path = EXTRACT_147) -> Path:
    """The extract with `change(name, data) -> (name, data)` applied to every member."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / original.name
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for name in source.namelist():
            out.writestr(*change(name, source.read(name)))
    return target


def copy_to(path: Path, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(path, folder / (name or path.name)))


# Rows in each insert file of extract 147, and the distinct keys they are under.
ROWS_147 = {
    "enterprise": 28,
    "establishment": 22,
    "denomination": 53,
    "address": 68,
    "contact": 40,
    "activity": 425,
    "branch": 0,
}
KEYS_147 = {
    "enterprise": 28,
    "establishment": 22,
    "denomination": 48,
    "address": 68,
    "contact": 21,
    "activity": 49,
    "branch": 0,
}
