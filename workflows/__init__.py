"""Workflows of vangnet."""

from workflows.case import TenantCaseWorkflow

__all__ = ["TenantCaseWorkflow"]
