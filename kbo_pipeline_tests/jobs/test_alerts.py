"""Knowing when it stops: a failed run posted to a webhook (a local HTTP server here), the freshness
check, and how far behind the portal the database is."""

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

from kbo_pipeline.core.alerts import redact
from kbo_pipeline.core.freshness import freshness
from kbo_pipeline.core.importer import import_extract
from kbo_pipeline.defs.alerts import kbo_alert_on_failure
from kbo_pipeline_tests.support.runs import run_with_a_gap

SECRET = "s3cr3t-hook-token"


class Webhook:
    """An HTTP server on 127.0.0.1 that records what is posted to it; `hold` makes it never answer."""

    def __init__(self, hold: bool = False):
        self.received: list[dict] = []
        self.release = threading.Event()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.received.append({"path": self.path, "body": json.loads(body)})
                if hold:
                    webhook.release.wait(60)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failed_run(dagster_home, tmp_path, samples):
    """A run of extract 142 refused for the gap (141 missing): what the alert reports on."""
    with DagsterInstance.get() as instance:
        yield instance, run_with_a_gap(instance, samples, str(tmp_path / "kbo.duckdb"), tmp_path / "work")


def evaluate(instance, run_id):
    run = instance.get_run_by_id(run_id)
    failure = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records[-1]
    context = build_run_status_sensor_context(
        sensor_name="kbo_alert_on_failure",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure.event_log_entry.dagster_event,
    ).for_run_failure()
    return kbo_alert_on_failure(context)


def test_a_failed_run_is_posted_with_its_extract_step_error_and_link_and_no_secret(failed_run, monkeypatch, samples):
    instance, run_id = failed_run
    webhook = Webhook()
    monkeypatch.setenv("KBO_ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("KBO_UI_URL", "http://kbo.example:3000")
    try:
        assert evaluate(instance, run_id) is None
    finally:
        webhook.close()
    [message] = webhook.received
    body = message["body"]
    assert body["kbo"]["run_id"] == run_id and body["kbo"]["failed_step"] == "kbo_extract"
    assert body["kbo"]["extract"] == samples[2].stem
    assert "extract 141 is missing" in body["kbo"]["error"] and "extract 141 is missing" in body["text"]
    assert body["kbo"]["url"] == f"http://kbo.example:3000/runs/{run_id}" and body["kbo"]["url"] in body["text"]
    assert SECRET not in json.dumps(body)


def test_an_unreachable_or_hanging_webhook_never_blocks_or_fails(failed_run, monkeypatch):
    instance, run_id = failed_run
    monkeypatch.setenv("KBO_ALERT_TIMEOUT_SECONDS", "0.5")
    webhook = Webhook(hold=True)
    monkeypatch.setenv("KBO_ALERT_WEBHOOK_URL", webhook.url)
    try:
        skipped = evaluate(instance, run_id)  # returns once the timeout passed; the server still holds
    finally:
        webhook.close()
    assert "alert not delivered" in skipped.skip_message and SECRET not in skipped.skip_message
    webhook.server.server_close()
    monkeypatch.setenv("KBO_ALERT_WEBHOOK_URL", webhook.url)  # now nobody listens there
    refused = evaluate(instance, run_id)
    assert "could not be reached" in refused.skip_message and SECRET not in refused.skip_message


def test_secrets_are_redacted_from_what_an_alert_says():
    text = "IO Error for md:kbo?motherduck_token=abc123: refused; postgresql://kbo:hunter2@db/x"
    assert "abc123" not in redact(text) and "hunter2" not in redact(text)


def test_freshness_is_the_time_since_the_latest_extract_was_applied(db, work_dir, samples):
    assert not freshness(db, 48).fresh and "no extract applied yet" in freshness(db, 48).describe()
    import_extract(db, samples[0], work_dir)
    assert freshness(db, 48).fresh
    later = datetime.now() + timedelta(hours=49)
    stale = freshness(db, 48, now=later)
    assert not stale.fresh and stale.describe().startswith("STALE: extract 140")
