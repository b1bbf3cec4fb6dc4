"""The SQL files, shipped inside the installed package as kbo_pipeline.sql (see pyproject.toml)."""
