"""The plain core on its own: DuckDB connections, no Dagster instance."""
