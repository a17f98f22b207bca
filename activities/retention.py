"""Activity `purge_expired`: the retention purge of the archive (vangnet/retention.py), in the
case store only. The periods are read from the policy file each time (an edit needs no restart)."""

from __future__ import annotations

import structlog
from temporalio import activity

from vangnet.operations import PURGE_EXPIRED, PurgeInput, PurgeResult
from vangnet.retention import RetentionPolicy, case_hash, purge_expired
from vangnet.store import Store

log = structlog.get_logger("vangnet.retention")


class RetentionActivities:
    def __init__(self, store: Store) -> None:
        self.store = store
        RetentionPolicy.from_policy_file(store.settings.policy_file)  # a bad file stops the worker

    @activity.defn(name=PURGE_EXPIRED)
    async def purge_expired(self, req: PurgeInput) -> PurgeResult:
        policy = RetentionPolicy.from_policy_file(self.store.settings.policy_file)
        purged = await purge_expired(self.store.sessions, policy, dry_run=req.dry_run)
        rows: dict[str, int] = {}
        for p in purged:
            log.info("case_purged", case_id_sha256=case_hash(p.case_id), dry_run=req.dry_run,
                     **{f"rows_{k}": v for k, v in p.rows.items()})
            for k, v in p.rows.items():
                rows[k] = rows.get(k, 0) + v
        return PurgeResult(cases=len(purged), rows=rows)

    def all(self) -> list:
        return [self.purge_expired]
