"""The activities of vangnet's own periodic work (vangnet/operations.py): the archiver's, the
reports' and the purge's, bound to one store: `OperationsActivities(store).all()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.archive import ArchiveActivities
from activities.reports import ReportActivities
from activities.retention import RetentionActivities
from vangnet.store import Store


class OperationsActivities:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.archive = ArchiveActivities(store)
        self.reports = ReportActivities(store)
        self.retention = RetentionActivities(store)

    def all(self) -> list[Callable[..., Any]]:
        return [*self.archive.all(), *self.reports.all(), *self.retention.all()]
