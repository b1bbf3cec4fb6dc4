"""How the Dagster steps fail: transient errors (a lock held by another process, the network) are
retried by the retry policy with backoff; anything else fails the step at once with a clear message."""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Backoff, Failure, Jitter, RetryPolicy

from .database import is_transient
from .extract import ExtractError
from .finalize import UnfinishedBatches
from .portal import PortalError
from .rollback import RollbackError

# 1 + 2 + 4 + 8 + 16 s: half a minute for another process to release the database.
TRANSIENT_RETRIES = RetryPolicy(max_retries=5, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

EXPECTED = (ExtractError, UnfinishedBatches, RollbackError, PortalError, ValueError, LookupError)


@contextmanager
def failing_clearly() -> Iterator[None]:
    try:
        yield
    except Failure:
        raise
    except EXPECTED as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    except Exception as exc:
        if is_transient(exc):
            raise  # the retry policy tries again
        raise Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc
