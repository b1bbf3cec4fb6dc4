"""How the Dagster steps fail: transient errors (a lock held by another process, the network) are
retried by the retry policy with backoff; the project's final errors fail the step at once with their
message alone; anything else (a bug) fails at once and keeps its traceback."""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Backoff, Failure, Jitter, RetryPolicy

from .database import is_transient
from .errors import FinalError, TransientError

# 1 + 2 + 4 + 8 + 16 s: half a minute for another process to release the database.
TRANSIENT_RETRIES = RetryPolicy(max_retries=5, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@contextmanager
def failing_clearly() -> Iterator[None]:
    try:
        yield
    except Failure:
        raise
    except FinalError as exc:
        # Written for the operator; the traceback would only show where the check sits.
        raise Failure(description=str(exc), allow_retries=False) from None
    except Exception as exc:
        if isinstance(exc, TransientError) or is_transient(exc):
            raise  # the retry policy tries again
        raise Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc
