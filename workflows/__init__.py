"""Workflows of vangnet."""

from workflows.archiver import CaseArchiverWorkflow
from workflows.case import TenantCaseWorkflow
from workflows.dispatcher import WebhookDispatcherWorkflow
from workflows.reports import AdviesgroepReportWorkflow
from workflows.retention import ArchivePurgeWorkflow

# vangnet's own periodic work (issue 11), on Temporal Schedules: vangnet/schedules.py
OPERATIONS_WORKFLOWS = [CaseArchiverWorkflow, AdviesgroepReportWorkflow, ArchivePurgeWorkflow,
                        WebhookDispatcherWorkflow]  # the webhook outbox (issue 10)

__all__ = ["AdviesgroepReportWorkflow", "ArchivePurgeWorkflow", "CaseArchiverWorkflow",
           "OPERATIONS_WORKFLOWS", "TenantCaseWorkflow",
           "WebhookDispatcherWorkflow"]
