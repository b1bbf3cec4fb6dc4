"""The Dagster code location: everything the defs package defines, loaded from its modules (the
`create-dagster` scaffold's shape). Loaded by `dagster dev -w workspace.yaml`, `dagster dev -m
kbo_pipeline.definitions` and `dg` ([tool.dg] in pyproject.toml)."""

from __future__ import annotations

import warnings
from pathlib import Path

from dagster import BetaWarning, ComponentTree, PreviewWarning

import kbo_pipeline.defs

# Dagster 1.13's own sensor machinery warns about a beta parameter we do not use, on every load.
warnings.filterwarnings("ignore", message="Parameter `owners`", category=BetaWarning)
# And its loader of a defs folder (the scaffold's own way) calls two functions it marks as preview.
warnings.filterwarnings("ignore", message="Function `load_definitions_from_module", category=PreviewWarning)

# What load_from_defs_folder does, minus its search for pyproject.toml: an installed package has none.
defs = ComponentTree.from_module(
    defs_module=kbo_pipeline.defs, project_root=Path(kbo_pipeline.defs.__file__).parents[2]
).build_defs()


def get_import_job():
    """For `reconstructable`: the resolved job, as the code location defines it."""
    return defs.resolve_job_def("kbo_import")


def get_rollback_job():
    return defs.resolve_job_def("kbo_rollback")


def get_audit_job():
    return defs.resolve_job_def("kbo_audit")
