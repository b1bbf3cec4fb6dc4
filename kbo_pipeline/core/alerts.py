"""Telling a person that the pipeline stopped: a failed run, posted as JSON to a chat webhook
(KBO_ALERT_WEBHOOK_URL). The payload's `text` is what Slack and Teams incoming webhooks show; `kbo`
carries the same facts as fields for any other receiver. Posting is bounded by a timeout and never
raises: an alert that cannot be delivered must not stop what it reports on."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

# Secrets that can appear in an error message (a MotherDuck token in an md: string, a password in a URL).
_SECRETS = (
    re.compile(r"(motherduck_token|token|password)=[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"),
)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + ("***@" if m.group(1).startswith("://") else "=***"), text)
    return text


def failure_payload(run_id: str, job: str, extract: str | None, failed_step: str | None, error: str, link: str) -> dict:
    error = redact(error.strip().splitlines()[0] if error.strip() else "no error message")[:1000]
    what = f"extract {extract}" if extract else job
    text = f"kbo-pipeline: {what} failed" + (f" in step {failed_step}" if failed_step else "") + f": {error}\n{link}"
    return {
        "text": text,
        "kbo": {
            "run_id": run_id,
            "job": job,
            "extract": extract,
            "failed_step": failed_step,
            "error": error,
            "url": link,
        },
    }


def post(url: str, payload: dict, timeout: float) -> str | None:
    """POST the payload as JSON; None when delivered, else why not (never raises, never names the URL,
    which is itself a secret)."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
        return None
    except urllib.error.HTTPError as exc:
        return f"the webhook answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, DNS, timeout, a malformed URL
        reason = getattr(exc, "reason", None) or exc
        return f"the webhook could not be reached: {type(reason).__name__}: {redact(str(reason))}"
