"""The run-failure alert: every failed run of the code location is posted to KBO_ALERT_WEBHOOK_URL
(core/alerts.py builds and posts the message). Off in effect while the variable is unset."""

from dagster import DefaultSensorStatus, RunFailureSensorContext, SkipReason, run_failure_sensor

from kbo_pipeline import settings
from kbo_pipeline.core.alerts import failure_payload, post


@run_failure_sensor(
    name="kbo_alert_on_failure",
    default_status=DefaultSensorStatus.RUNNING,
    description="Posts every failed run (extract, failed step, error, link) to KBO_ALERT_WEBHOOK_URL.",
)
def kbo_alert_on_failure(context: RunFailureSensorContext):
    url = settings.alert_webhook_url()
    if not url:
        return SkipReason("KBO_ALERT_WEBHOOK_URL is not set: no alert sent")
    run = context.dagster_run
    steps = context.get_step_failure_events()
    failed_step = steps[0].step_key if steps else None
    error = steps[0].event_specific_data.error.message if steps and steps[0].event_specific_data.error else ""
    payload = failure_payload(
        run.run_id,
        run.job_name,
        run.tags.get("dagster/partition"),
        failed_step,
        error or context.failure_event.message or "",
        f"{settings.ui_url()}/runs/{run.run_id}",
    )
    problem = post(url, payload, settings.alert_timeout())
    if problem:
        context.log.warning(f"alert for run {run.run_id} not delivered: {problem}")
        return SkipReason(f"alert not delivered: {problem}")
    context.log.info(f"alert for run {run.run_id} posted")
    return None
