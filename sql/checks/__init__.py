"""The data-check queries (kbo_pipeline.sql.checks)."""
