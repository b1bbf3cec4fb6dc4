"""One partition per extract, keyed by its file name without `.zip`; every step of an import reads its
extract number from the run's partition key."""

from dagster import DynamicPartitionsDefinition, Failure

from kbo_pipeline.core.extract import ExtractError, extract_number_of

extract_partitions = DynamicPartitionsDefinition(name="kbo_extracts")


def extract_number(context) -> int:
    """The extract number of the run's partition; a key that names no extract fails the step."""
    try:
        return extract_number_of(context.partition_key)
    except ExtractError as exc:
        raise Failure(str(exc), allow_retries=False) from None
