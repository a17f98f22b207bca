"""Activities of the scheduled reports (vangnet/reports): build one report into the reports
directory, and deliver the message that it is there to the Adviesgroep's inbox.

`build_report` reads the case store and writes files: the files are its result. `deliver_report`
writes one inbox message per party of kind `adviesgroep` under the run's idempotency key (a retry
finds it written), through the same inbox as every action; the workflow then posts it to the
party's webhook with `deliver_webhook`, as for every other message.
"""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from temporalio import activity

from vangnet.domain import PartyKind
from vangnet.operations import (
    BUILD_REPORT,
    DELIVER_REPORT,
    ReportDelivery,
    ReportFiles,
    ReportMessage,
    ReportRequest,
)
from vangnet.reports import make_report, write_variants
from vangnet.reports.period import Period
from vangnet.store import Store
from vangnet.store.inbox import NewMessage, deliver_in
from vangnet.store.models import Party
from vangnet.store.registry import has_webhook

log = structlog.get_logger("vangnet.reports")

REPORT_ACTION = "report_published"
KIND_TEXT = {"monitoring": "Monitoringsrapportage", "naleving": "Verantwoording naleving"}


def report_case_id(kind: str, label: str) -> str:
    """What the inbox message carries where an action's message has its case id."""
    return f"rapport-{kind}-{label}"


class ReportActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name=BUILD_REPORT)
    async def build_report(self, req: ReportRequest) -> ReportFiles:
        period = Period(req.period_from, req.period_until, req.label)
        report = await make_report(self.store.sessions, req.kind, period)
        root = self.store.settings.reports_dir
        folder = root / req.kind / period.slug
        public, internal = write_variants(report, folder)
        summary = f"{report.title}: {report.episodes} casussen, periode {period.describe()}"
        log.info("report_written", kind=req.kind, period=period.label, folder=str(folder),
                 files=len(public) + len(internal), cases=report.episodes)
        return ReportFiles(kind=req.kind, label=period.label, folder=str(folder),
                           public=[str(p.relative_to(root)) for p in public],
                           internal=[str(p.relative_to(root)) for p in internal], summary=summary)

    @activity.defn(name=DELIVER_REPORT)
    async def deliver_report(self, msg: ReportMessage) -> ReportDelivery:
        files = msg.files
        text = (f"{KIND_TEXT.get(files.kind, files.kind)} {files.label} staat klaar: "
                f"{files.summary}. Kleine aantallen (1 t/m 4) zijn weergegeven als '<5'.")
        payload = {"action": REPORT_ACTION, "kind": files.kind, "period": files.label,
                   "files": files.public, "text": text}
        async with self.store.sessions() as session, session.begin():
            parties = (await session.execute(
                sa.select(Party).where(Party.kind == PartyKind.adviesgroep.value).order_by(Party.code)
            )).scalars().all()
            delivered = await deliver_in(session, [
                NewMessage(p.code, msg.idempotency_key, report_case_id(files.kind, files.label),
                           REPORT_ACTION, payload) for p in parties])
        with_webhook = {p.code for p in parties if has_webhook(p)}
        for d in delivered:
            log.info("inbox_message_delivered", action=REPORT_ACTION, receiver=d.party_code,
                     message_id=d.message_id, duplicate=d.duplicate)
        if not parties:
            log.warning("report_without_receiver", kind=files.kind, period=files.label,
                        reason="no party of kind adviesgroep in the registry")
        return ReportDelivery(
            message_ids=[d.message_id for d in delivered],
            receivers=[d.party_code for d in delivered],
            webhook_message_ids=[d.message_id for d in delivered if d.party_code in with_webhook],
        )

    def all(self) -> list:
        return [self.build_report, self.deliver_report]
