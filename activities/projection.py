"""Activity `record_case`: upsert the episode's reporting row in `case_record`."""

from __future__ import annotations

from temporalio import activity

from activities import RECORD_CASE
from vangnet.domain import CaseProjection
from vangnet.store import Store
from vangnet.store.cases import upsert_case


class ProjectionActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name=RECORD_CASE)
    async def record_case(self, projection: CaseProjection) -> None:
        await upsert_case(self.store.sessions, projection)
