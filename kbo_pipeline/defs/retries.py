"""How the Dagster steps fail and retry: transient errors (a lock held by another process, the network) are
tried again inside the step, with backoff; the project's final errors fail the step at once with their
message alone; anything else (a bug) fails at once and keeps its traceback.

Why not Dagster's RetryPolicy: for an op that has one, Dagster turns an interrupt into a retry request
(op_execution_error_boundary "respects retry policy when interrupts occur"), so a Terminate that
arrived while a batch step ran, or loaded its input, was swallowed and the run went on. Retried inside
the step, an interrupt stays an interrupt and the run stops at once.

    for attempt in retrying(context.log):
        with attempt, kbo_db.get_connection() as conn:
            ...
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from dagster import Failure

from kbo_pipeline.core.database import damaged, is_damaged, is_transient
from kbo_pipeline.errors import FinalError, TransientError

# 1 + 2 + 4 + 8 + 16 s (each ±20 %): half a minute for another process to release the database.
ATTEMPTS = 6
FIRST_DELAY = 1.0


class Attempt:
    def __init__(self, number: int, last: bool):
        self.number, self.last = number, last
        self.succeeded = False
        self.error: BaseException | None = None

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.succeeded = True
            return False
        if isinstance(exc, Failure) or not isinstance(exc, Exception):
            return False  # a Failure already, or an interrupt: on its way
        if isinstance(exc, FinalError):
            # Written for the operator; the traceback would only show where the check sits.
            raise Failure(description=str(exc), allow_retries=False) from None
        if is_damaged(exc):  # the database file, not a bug: what to do, without a traceback
            raise Failure(description=damaged("the database", exc), allow_retries=False) from None
        if isinstance(exc, TransientError) or is_transient(exc):
            if not self.last:
                self.error = exc
                return True  # retrying() waits, then the body runs again
            raise Failure(
                description=f"still failing after {self.number} attempts: {exc}", allow_retries=False
            ) from exc
        raise Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc


def retrying(log=None, attempts: int = ATTEMPTS, first_delay: float = FIRST_DELAY) -> Iterator[Attempt]:
    for number in range(1, attempts + 1):
        attempt = Attempt(number, last=number == attempts)
        yield attempt
        if attempt.succeeded or attempt.error is None:
            return
        delay = first_delay * 2 ** (number - 1) * random.uniform(0.8, 1.2)
        if log is not None:
            log.warning(
                f"transient error (attempt {number} of {attempts}), trying again in {delay:.1f} s: {attempt.error}"
            )
        time.sleep(delay)
