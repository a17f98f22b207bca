"""A deliberately changed copy of the case workflow, for the audit's non-determinism test only.

It registers under the real name and does one thing differently: it sets a one-second timer
before the case context is resolved. Old histories have no such timer, so replaying them with
this class must fail (and the audit must say so)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from vangnet.domain import CaseInput
    from workflows.case import TenantCaseWorkflow


@workflow.defn(name="TenantCaseWorkflow")
class ChangedCaseWorkflow(TenantCaseWorkflow):
    @workflow.run
    async def run(self, input: CaseInput) -> dict[str, Any]:
        await workflow.sleep(timedelta(seconds=1), summary="nieuwe wachttijd (test)")
        return await super().run(input)
