"""Workflows of vangnet."""

from workflows.archiver import CaseArchiverWorkflow
from workflows.case import TenantCaseWorkflow
from workflows.reports import AdviesgroepReportWorkflow
from workflows.retention import ArchivePurgeWorkflow

# vangnet's own periodic work (issue 11), on Temporal Schedules: vangnet/schedules.py
OPERATIONS_WORKFLOWS = [CaseArchiverWorkflow, AdviesgroepReportWorkflow, ArchivePurgeWorkflow]

__all__ = ["AdviesgroepReportWorkflow", "ArchivePurgeWorkflow", "CaseArchiverWorkflow",
           "OPERATIONS_WORKFLOWS", "TenantCaseWorkflow"]
