"""The portal client against a fake portal on 127.0.0.1 that speaks the same protocol."""

import os
import subprocess
import sys

import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    build_sensor_context,
    execute_job,
    reconstructable,
)
from dagster._core.utils import make_new_run_id

from kbo_pipeline import definitions
from kbo_pipeline.definitions import defs
from kbo_pipeline.defs.resources import default_resources
from kbo_pipeline.defs.sensors import kbo_portal_sensor
from kbo_pipeline.sources.portal import PortalClient, PortalError, fetch_new, wanted_extracts
from kbo_pipeline_tests.support.fake_portal import FakePortal, portal_files


@pytest.fixture
def portal(samples):
    with FakePortal(portal_files(samples[:3])) as fake:
        yield fake


def client(portal, password="s3cret!"):
    return PortalClient(portal.base, "user", password, timeout=10, allow_http=True)  # the fake portal speaks http


def portal_env(portal, landing, tmp_path) -> dict[str, str]:
    """The environment of a kbo that talks to the fake portal over plain HTTP."""
    return {
        "KBO_PORTAL_URL": portal.base,
        "KBO_USERNAME": "user",
        "KBO_PASSWORD": "s3cret!",
        "KBO_PORTAL_ALLOW_HTTP": "1",
        "KBO_LANDING_DIR": str(landing),
        "KBO_DATABASE": str(tmp_path / "kbo.duckdb"),
    }


def test_login_listing_and_download(portal, samples, tmp_path):
    c = client(portal)
    assert c.list_extracts() == [p.name for p in samples[:3]]
    path = c.download(samples[1].name, tmp_path)
    assert path.read_bytes() == samples[1].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [samples[1].name]  # no temporary file left
    assert portal.requests[0] == "POST /kbo-open-data/static/j_spring_security_check"
    assert portal.requests[1] == "GET /kbo-open-data/signup?form=&lang=en"


def test_an_expired_session_logs_in_again_once(portal, samples, tmp_path):
    c = client(portal)
    c.list_extracts()
    portal.expire_sessions()  # the download answers 401
    assert c.download(samples[0].name, tmp_path).exists()
    assert portal.logins == 2
    portal.empty_listings = 1  # a listing without links: the session is gone too
    assert len(c.list_extracts()) == 3 and portal.logins == 3


def test_bad_credentials_fail_clearly_and_write_nothing(portal, tmp_path):
    landing = tmp_path / "landing"
    with pytest.raises(PortalError, match=r"login .* failed .* check KBO_USERNAME and KBO_PASSWORD") as info:
        fetch_new(client(portal, "wrong"), landing, None)
    assert "wrong" not in str(info.value) and "s3cret" not in str(info.value)
    assert not landing.exists() or not any(landing.iterdir())


def test_a_download_that_is_not_a_zip_is_not_landed(samples, tmp_path):
    with FakePortal({samples[0].name: b"<html>maintenance</html>"}) as fake:
        with pytest.raises(PortalError, match="not a ZIP"):
            client(fake).download(samples[0].name, tmp_path)
    assert not any(tmp_path.iterdir())


def test_what_to_fetch(tmp_path, samples):
    offered = [p.name for p in samples[:4]]
    assert wanted_extracts(offered, tmp_path, None) == offered  # the Full 140 and the Updates after it
    assert wanted_extracts(offered, tmp_path, 141) == offered[2:]
    (tmp_path / offered[2]).write_bytes(b"")
    assert wanted_extracts(offered, tmp_path, 141) == offered[3:]


def test_kbo_fetch_lands_new_extracts(portal, samples, tmp_path):
    landing = tmp_path / "landing"
    env = {**os.environ, **portal_env(portal, landing, tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "kbo_pipeline.cli.main", "fetch"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in landing.iterdir()) == [p.name for p in samples[:3]]
    assert "s3cret" not in done.stdout + done.stderr
    again = subprocess.run(
        [sys.executable, "-m", "kbo_pipeline.cli.main", "fetch"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "nothing new" in again.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "kbo_pipeline.cli.main", "fetch"],
        env={**env, "KBO_PASSWORD": "nope"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "check KBO_USERNAME and KBO_PASSWORD" in bad.stderr and "nope" not in bad.stderr


def sensor_context(instance):
    """A tick's context with the resources the code location would bind from this test's environment."""
    return build_sensor_context(instance=instance, definitions=definitions.defs, resources=default_resources())


def test_the_portal_sensor_is_off_without_credentials_and_requests_downloads(
    portal, samples, tmp_path, monkeypatch, dagster_home
):

    assert kbo_portal_sensor.default_status == DefaultSensorStatus.STOPPED  # no credentials here
    landing = tmp_path / "landing"
    for key, value in portal_env(portal, landing, tmp_path).items():
        monkeypatch.setenv(key, value)
    with DagsterInstance.get() as instance:
        with sensor_context(instance) as context:
            data = kbo_portal_sensor.evaluate_tick(context)
        assert [r.tags["kbo/fetch"] for r in data.run_requests] == [p.name for p in samples[:3]]
        # How far behind the portal the database is: in the tick's log and on the extract asset's page.
        [observed] = data.asset_events
        assert observed.asset_key.to_user_string() == "kbo/extract"
        assert observed.metadata["extracts_behind_portal"].value == 3
        # No run key: a download that failed is requested again at the next look (red team).
        assert all(r.run_key is None for r in data.run_requests)
        assert "s3cret" not in repr(data.run_requests)
        # The definitions were loaded before this test set KBO_LANDING_DIR: give the folder explicitly.
        paths = {"kbo_paths": {"config": {"landing_dir": str(landing), "work_dir": str(tmp_path / "work")}}}
        run_config = {**data.run_requests[0].run_config, "resources": paths}
        with execute_job(reconstructable(get_fetch_job), instance=instance, run_config=run_config) as result:
            assert result.success
        # While a download of a file is under way, the next look does not request it again.
        instance.add_run(
            DagsterRun(
                job_name="kbo_fetch",
                run_id=make_new_run_id(),
                status=DagsterRunStatus.STARTED,
                tags={"kbo/fetch": samples[1].name},
            )
        )
        with sensor_context(instance) as context:
            again = kbo_portal_sensor.evaluate_tick(context)
        assert [r.tags["kbo/fetch"] for r in again.run_requests] == [samples[2].name]
    assert (landing / samples[0].name).read_bytes() == samples[0].read_bytes()


def test_only_https_unless_http_is_allowed_explicitly(portal, tmp_path):
    with pytest.raises(PortalError, match=r"KBO_PORTAL_URL must be an https address, not 'http://127\.0\.0\.1"):
        PortalClient(portal.base, "user", "s3cret!")
    with pytest.raises(PortalError, match="must be an https address"):
        PortalClient("ftp://example.invalid/kbo", "user", "s3cret!", allow_http=True)
    env = {
        **os.environ,
        "KBO_PORTAL_URL": portal.base,
        "KBO_USERNAME": "user",
        "KBO_PASSWORD": "s3cret!",
        "KBO_LANDING_DIR": str(tmp_path / "landing"),
        "KBO_DATABASE": str(tmp_path / "kbo.duckdb"),
    }
    env.pop("KBO_PORTAL_ALLOW_HTTP", None)
    refused = subprocess.run(
        [sys.executable, "-m", "kbo_pipeline.cli.main", "fetch"], env=env, capture_output=True, text=True, timeout=120
    )
    assert (
        refused.returncode == 1 and "must be an https address" in refused.stderr and "Traceback" not in refused.stderr
    )
    assert portal.requests == []  # nothing was sent, credentials least of all


def test_redirects_stay_on_the_portal(portal, samples, tmp_path):
    c = client(portal)
    portal.redirect_downloads_to = f"http://127.0.0.1:{portal.port}/kbo-open-data/elsewhere/"
    assert c.download(samples[0].name, tmp_path).read_bytes() == samples[0].read_bytes()
    portal.redirect_downloads_to = f"http://localhost:{portal.port}/kbo-open-data/elsewhere/"  # another host name
    with pytest.raises(
        PortalError, match=f"redirected to http://localhost:{portal.port}, not its own http://127.0.0.1"
    ):
        c.download(samples[1].name, tmp_path / "other")
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())


def test_downloads_are_capped_and_checked_against_their_length(portal, samples, tmp_path):
    size = len(portal.files[samples[0].name])
    capped = PortalClient(portal.base, "user", "s3cret!", timeout=10, allow_http=True, max_download_bytes=size - 1)
    with pytest.raises(
        PortalError, match=f"announced {size:,} bytes, more than the {size - 1:,} bytes a download may have"
    ):
        capped.download(samples[0].name, tmp_path)
    portal.content_length_delta = 1000  # the connection ends before what was announced
    with pytest.raises(PortalError, match=f"ended after {size:,} of the {size + 1000:,} bytes announced"):
        client(portal).download(samples[0].name, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial file left


def get_fetch_job():
    return defs.resolve_job_def("kbo_fetch")
