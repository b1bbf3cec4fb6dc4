"""The UI in a real browser: headless Chromium opens the asset graph, an applied table's page and a
finished run, against a webserver on 127.0.0.1 with one applied extract. The rendered text must name
the project's assets and steps; a screenshot of each page is saved under test-artifacts/ui/."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dagster import DagsterInstance

from kbo_pipeline.cli.runs import launch_import
from kbo_pipeline_tests.support.files import EXTRACT_147, ROOT
from kbo_pipeline_tests.support.webserver import Webserver

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts" / "ui"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
    "--virtual-time-budget=20000",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
)


def rendered_text(url: str, profile: Path) -> str:
    html = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def screenshot(url: str, profile: Path, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={target}", url],
        capture_output=True,
        timeout=120,
    )
    return target


def test_the_ui_shows_the_assets_the_applied_table_and_the_run(tmp_path, dagster_home):
    database = str(tmp_path / "kbo.duckdb")
    with DagsterInstance.get() as instance:
        with launch_import(instance, EXTRACT_147, database, tmp_path / "work") as result:
            assert result.success
            run_id = result.run_id
    server = Webserver({"DAGSTER_HOME": str(dagster_home), "KBO_DATABASE": database}, tmp_path, tmp_path / "ui.log")
    try:
        pages = {
            "asset-graph": (
                f"{server.url}/asset-groups/kbo",
                ["extract", "staging_activity", "enterprise", "activity", "code", "parquet_exports"],
            ),
            "applied-table": (
                f"{server.url}/assets/kbo/activity",
                ["rows_inserted", "425", "current_rows", "KboOpenData_0147_2025_10_12_Update", "kbo_import"],
            ),
            "run": (
                f"{server.url}/runs/{run_id}",
                ["kbo_import", "Success", "KboOpenData_0147_2025_10_12_Update", "kbo_staging", "kbo_finalize"],
            ),
            # Knowing when it stops: the freshness check on `code`, evaluated by the import just run, and
            # the sensor that posts failed runs.
            "freshness": (f"{server.url}/assets/kbo/code?view=checks", ["extract_is_fresh"]),
            "alert": (f"{server.url}/automation", ["kbo_alert_on_failure", "kbo_freshness_schedule"]),
        }
        for name, (url, expected) in pages.items():
            text = rendered_text(url, tmp_path / f"profile-{name}")
            missing = [e for e in expected if e not in text]
            assert not missing, f"{name}: {missing} not rendered in: {text[:1500]}"
            shot = screenshot(url, tmp_path / f"profile-{name}-shot", name)
            assert shot.stat().st_size > 10_000, name
    finally:
        server.stop()
