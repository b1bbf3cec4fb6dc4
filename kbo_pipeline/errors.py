"""The project's own errors: one base, split by what a retry would do.

A `FinalError` (bad input, an extract out of sequence, a refused rollback, bad configuration) gives the
same answer however often it is retried: the step fails at once with its message, no traceback needed.
A `TransientError` (another import holds the database, the portal cannot be reached) may go away: the
steps' retry policy tries again. Any other exception is a bug or an environment fault and keeps its
traceback.
"""


class KboError(Exception):
    """Base of the errors this project raises on purpose; the message is written for the operator.

    What an error is about travels as fields (the file, its member and line, the extract, the table), for
    code to use without parsing the message, which leads with them: `<file>/<member> line <n>: <problem>`.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        member: str | None = None,
        line: int | None = None,
        extract_number: int | None = None,
        table: str | None = None,
    ):
        self.problem = problem
        self.file, self.member, self.line = file, member, line
        self.extract_number, self.table = extract_number, table
        where = "/".join(part for part in (file, member) if part)
        if line is not None:
            where = f"{where} line {line}" if where else f"line {line}"
        # args is the message alone, so that a copy (pickle, Dagster's error info) reads the same.
        super().__init__(f"{where}: {problem}" if where else problem)


class FinalError(KboError):
    """Retrying the same work with the same input fails the same way."""


class TransientError(KboError):
    """Retrying the same work later may succeed."""


class ConfigError(FinalError):
    """A setting, run config value or command-line argument is not valid."""


class DataChecksFailed(FinalError):
    """A data check of severity ERROR failed: the database does not hold what the ledger says."""


class Refusal(FinalError):
    """A sound extract that may not be applied now, or not without an operator's decision: one out of
    sequence, or a Full too far from the database. Not the file's fault; the ledger records it as the
    extract's failure all the same, so that the sensor does not launch it again and again."""


class ResourceError(TransientError):
    """What an import runs on failed, not its input: memory, disk space, a work folder removed under it.
    The file is not blamed: the step tries again, and the landing sensor launches the same file again."""
