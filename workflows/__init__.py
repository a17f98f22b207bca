"""Workflows of vangnet."""

from workflows.archiver import CaseArchiverWorkflow
from workflows.case import TenantCaseWorkflow

# vangnet's own periodic work (issue 11), on Temporal Schedules: vangnet/schedules.py
OPERATIONS_WORKFLOWS = [CaseArchiverWorkflow]

__all__ = ["CaseArchiverWorkflow", "OPERATIONS_WORKFLOWS", "TenantCaseWorkflow"]
