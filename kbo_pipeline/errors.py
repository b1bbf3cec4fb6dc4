"""The project's own errors: one base, split by what a retry would do.

A `FinalError` (bad input, an extract out of sequence, a refused rollback, bad configuration) gives the
same answer however often it is retried: the step fails at once with its message, no traceback needed.
A `TransientError` (another import holds the database, the portal cannot be reached) may go away: the
steps' retry policy tries again. Any other exception is a bug or an environment fault and keeps its
traceback.
"""


class KboError(Exception):
    """Base of the errors this project raises on purpose; the message is written for the operator."""


class FinalError(KboError):
    """Retrying the same work with the same input fails the same way."""


class TransientError(KboError):
    """Retrying the same work later may succeed."""


class ConfigError(FinalError):
    """A setting, run config value or command-line argument is not valid."""


class DataChecksFailed(FinalError):
    """A data check of severity ERROR failed: the database does not hold what the ledger says."""


class ResourceError(TransientError):
    """What an import runs on failed, not its input: memory, disk space, a work folder removed under it.
    The file is not blamed: the step tries again, and the landing sensor launches the same file again."""
