"""vangnet's Temporal Schedules, created or updated idempotently when the worker starts (unless
VANGNET_SCHEDULES=false) and by `python -m starter schedules apply`:

| schedule | runs | when (Dutch time) |
|---|---|---|
| `vangnet-archiver` | CaseArchiverWorkflow | every VANGNET_ARCHIVE_EVERY_MINUTES (15) minutes |
| `vangnet-report-quarterly` | AdviesgroepReportWorkflow (monitoring) | VANGNET_QUARTERLY_REPORT_CRON, default one week before each quarter's first working day, 07:00 |
| `vangnet-report-annual` | AdviesgroepReportWorkflow (naleving) | VANGNET_ANNUAL_REPORT_CRON, default 15 January 07:00 (the previous year) |
| `vangnet-archive-purge` | ArchivePurgeWorkflow | VANGNET_PURGE_CRON, default daily 03:30 |

They show under *Schedules* in the Web UI, where an operator can pause, trigger or look at their
runs. Applying keeps what an operator set there: a paused schedule stays paused, with its note.
The default quarterly calendar lists the exact days (working days follow Dutch holidays, which a
cron line cannot say) for this year and the next YEARS_AHEAD; every start of a worker rolls it on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from vangnet import calendar
from vangnet.operations import (
    ARCHIVER_WORKFLOW,
    PURGE_WORKFLOW,
    REPORT_WORKFLOW,
    ArchiverInput,
    PurgeInput,
    ReportInput,
)
from vangnet.reports.period import quarterly_run_days
from vangnet.settings import Settings

ARCHIVER = "vangnet-archiver"
QUARTERLY = "vangnet-report-quarterly"
ANNUAL = "vangnet-report-annual"
PURGE = "vangnet-archive-purge"
SCHEDULE_IDS = (ARCHIVER, QUARTERLY, ANNUAL, PURGE)
TIME_ZONE = "Europe/Amsterdam"
YEARS_AHEAD = 5
REPORT_HOUR = 7


@dataclass(frozen=True)
class Applied:
    schedule_id: str
    result: str  # "created" | "updated"
    paused: bool


def _quarterly_calendar(today: date) -> list[ScheduleCalendarSpec]:
    return [
        ScheduleCalendarSpec(
            year=[ScheduleRange(d.year)], month=[ScheduleRange(d.month)],
            day_of_month=[ScheduleRange(d.day)], hour=[ScheduleRange(REPORT_HOUR)],
            comment=f"een week voor de eerste werkdag van het kwartaal ({d.isoformat()})",
        )
        for d in quarterly_run_days(range(today.year, today.year + YEARS_AHEAD + 1))
        if d >= today
    ]


def definitions(settings: Settings, task_queue: str, *, prefix: str = "", archive_query: str = "",
                today: date | None = None) -> dict[str, Schedule]:
    """The schedules as they should be, by id. `prefix` and `archive_query` (a visibility filter
    for the archiver, e.g. `TaskQueue = '...'`) keep a test's schedules to its own cases."""
    today = today or calendar.local_date(datetime.now(UTC))

    def action(workflow: str, arg: object, wf_id: str) -> ScheduleActionStartWorkflow:
        return ScheduleActionStartWorkflow(workflow, arg, id=f"{prefix}{wf_id}", task_queue=task_queue)

    if settings.quarterly_report_cron.strip():
        quarterly = ScheduleSpec(cron_expressions=[settings.quarterly_report_cron.strip()],
                                 time_zone_name=TIME_ZONE)
    else:
        quarterly = ScheduleSpec(calendars=_quarterly_calendar(today), time_zone_name=TIME_ZONE)
    skip = SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=1))
    # A report whose moment passed while the cluster was down still runs within a week.
    report_policy = SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE,
                                   catchup_window=timedelta(days=7))
    return {
        f"{prefix}{ARCHIVER}": Schedule(
            action=action(ARCHIVER_WORKFLOW, ArchiverInput(query=archive_query), ARCHIVER),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(
                every=timedelta(minutes=settings.archive_every_minutes))]),
            policy=skip,
            state=ScheduleState(note="Archiveert afgesloten casussen in het casusregister"),
        ),
        f"{prefix}{QUARTERLY}": Schedule(
            action=action(REPORT_WORKFLOW, ReportInput(kind="monitoring", archive_query=archive_query),
                          QUARTERLY),
            spec=quarterly, policy=report_policy,
            state=ScheduleState(note="Monitoringsrapportage voor de Adviesgroep"),
        ),
        f"{prefix}{ANNUAL}": Schedule(
            action=action(REPORT_WORKFLOW, ReportInput(kind="naleving", archive_query=archive_query),
                          ANNUAL),
            spec=ScheduleSpec(cron_expressions=[settings.annual_report_cron.strip()],
                              time_zone_name=TIME_ZONE),
            policy=report_policy,
            state=ScheduleState(note="Verantwoording naleving over het vorige jaar"),
        ),
        f"{prefix}{PURGE}": Schedule(
            action=action(PURGE_WORKFLOW, PurgeInput(), PURGE),
            spec=ScheduleSpec(cron_expressions=[settings.purge_cron.strip()],
                              time_zone_name=TIME_ZONE),
            policy=skip,
            state=ScheduleState(note="Bewaartermijnen van het archief"),
        ),
    }


async def apply_schedules(client: Client, settings: Settings, task_queue: str, *,
                          prefix: str = "", archive_query: str = "",
                          today: date | None = None) -> list[Applied]:
    """Create each schedule, or update it to its definition, keeping its paused state and note."""
    out = []
    for schedule_id, schedule in definitions(settings, task_queue, prefix=prefix,
                                             archive_query=archive_query, today=today).items():
        try:
            await client.create_schedule(schedule_id, schedule)
            out.append(Applied(schedule_id, "created", False))
            continue
        except ScheduleAlreadyRunningError:
            pass
        handle = client.get_schedule_handle(schedule_id)
        paused: list[bool] = []

        def update(current: ScheduleUpdateInput, new: Schedule = schedule,
                   paused: list[bool] = paused) -> ScheduleUpdate:
            state = current.description.schedule.state
            paused.append(state.paused)
            return ScheduleUpdate(schedule=dataclasses.replace(
                new, state=dataclasses.replace(new.state, paused=state.paused,
                                               note=state.note if state.paused else new.state.note)))

        await handle.update(update)
        out.append(Applied(schedule_id, "updated", bool(paused and paused[-1])))
    return out


async def describe_schedules(client: Client, ids: Sequence[str] = SCHEDULE_IDS) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for schedule_id in ids:
        try:
            d = await client.get_schedule_handle(schedule_id).describe()
        except Exception as err:  # reported per schedule
            out.append({"id": schedule_id, "error": str(err).splitlines()[0]})
            continue
        out.append({
            "id": schedule_id,
            "workflow": getattr(d.schedule.action, "workflow", None),
            "paused": d.schedule.state.paused,
            "note": d.schedule.state.note,
            "next": [t.isoformat() for t in d.info.next_action_times[:3]],
            "recent": [a.action.workflow_id for a in d.info.recent_actions[-3:]
                       if hasattr(a.action, "workflow_id")],
        })
    return out


__all__ = ["ANNUAL", "ARCHIVER", "Applied", "PURGE", "QUARTERLY", "SCHEDULE_IDS",
           "apply_schedules", "definitions", "describe_schedules"]
