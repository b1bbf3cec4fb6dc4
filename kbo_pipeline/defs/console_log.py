"""The runs' console logger: Dagster's own, except that a step refused for bad input or a refusal (the
project's final errors, raised as a plain `Failure` with no cause) is one readable line instead of the
stack of Dagster frames behind it. A bug (a `Failure` caused by another exception) keeps its traceback."""

import logging

from dagster import Definitions, Field, logger
from dagster._loggers import create_console_logger
from dagster._utils.log import coerce_valid_log_level

_FAILURE = "dagster._core.definitions.events.Failure: "
_CAUSED = "The above exception was caused by the following exception"


class PlainFinalErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _FAILURE in message and _CAUSED not in message:
            head, _, rest = message.partition(_FAILURE)
            record.msg, record.args = head.rstrip() + " " + rest.split("\n\nStack Trace:")[0].strip(), ()
        return True


_FILTER = PlainFinalErrors()


@logger(
    Field(
        {
            "log_level": Field(str, is_required=False, default_value="INFO", description="The logger's threshold."),
            "name": Field(str, is_required=False, default_value="dagster", description="The name of the logger."),
        }
    ),
    description="Dagster's colored console logger, with final errors on one line.",
)
def kbo_console_logger(init_context) -> logging.Logger:
    console = create_console_logger(
        name=init_context.logger_config["name"], level=coerce_valid_log_level(init_context.logger_config["log_level"])
    )
    for handler in console.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return console


loggers = Definitions(loggers={"console": kbo_console_logger})
