"""The package as a user installs it: a wheel, not the source tree. Built here, installed into a fresh
venv (its dependencies seen from this environment's site-packages, so nothing is downloaded but the
build backend), and run from another folder: it must find its SQL and its code location by itself."""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import duckdb

from kbo_pipeline_tests.support.files import ROOT


def run(*command, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def test_a_wheel_installed_elsewhere_imports_a_sample_extract(tmp_path):
    # Built from a copy of the tracked files: the build writes build/ beside its source, and what git
    # does not track must not be needed.
    source = tmp_path / "source"
    for name in run("git", "ls-files", cwd=ROOT).stdout.splitlines():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
        "-w",
        str(tmp_path / "dist"),
        str(source),
        cwd=tmp_path,
    )
    wheel = next((tmp_path / "dist").glob("kbo_pipeline-*.whl"))
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "kbo_pipeline/sql/ledger.sql" in shipped and "kbo_pipeline/sql/checks/scope.sql" in shipped

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    # This environment's packages as a plain path entry: its .pth files (the editable install of this
    # source tree) are not processed, so only the wheel provides kbo_pipeline.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = env_dir / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
        str(wheel),
        cwd=tmp_path,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KBO_", "DAGSTER_HOME", "PYTHONPATH"))}
    where = run(
        str(python),
        "-c",
        "import kbo_pipeline, kbo_pipeline.core.templates as t; print(kbo_pipeline.__file__, t.SQL)",
        cwd=elsewhere,
        env=env,
    ).stdout
    assert str(site) in where and str(ROOT) not in where

    kbo = str(env_dir / "bin" / "kbo")
    run(kbo, "sample", "--out", "landing", "--updates", "1", cwd=elsewhere, env=env)
    zips = sorted(str(p) for p in (elsewhere / "landing").glob("*.zip"))
    run(kbo, "import", *zips, cwd=elsewhere, env=env)
    with duckdb.connect(str(elsewhere / "data" / "kbo.duckdb"), read_only=True) as conn:
        applied = conn.execute(
            "SELECT list(extract_number ORDER BY extract_number) FROM import_jobs WHERE status = 'completed'"
        ).fetchone()[0]
    assert applied == [140, 141]
