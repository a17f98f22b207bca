"""Activity `archive_timeline`: keep a case's older timeline entries in the case store.

The case runs it as a local activity when its timeline grows past its limit (RULES §12, bounded
state; workflows/case.py). Idempotent: entries are keyed by their position in the episode.
"""

from __future__ import annotations

from temporalio import activity

from activities import ARCHIVE_TIMELINE
from vangnet.case_messages import TimelineArchive
from vangnet.store import Store
from vangnet.store.timeline import archive_entries


class TimelineActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name=ARCHIVE_TIMELINE)
    async def archive_timeline(self, archive: TimelineArchive) -> int:
        return await archive_entries(self.store.sessions, archive)
