"""The Dagster layer in process: jobs through execute_job on a real instance, sensors, failures."""
