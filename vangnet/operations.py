"""The names and messages of vangnet's own periodic work (issue 11): the archiver, the reports for
the Adviesgroep and the retention purge. Workflows, activities, the worker and `starter schedules`
share them; nothing heavy is imported here, so a workflow may import it.

Each runs as a workflow on a Temporal Schedule (vangnet/schedules.py), visible and pausable in the
Web UI under *Schedules*.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

# Workflow types
ARCHIVER_WORKFLOW = "CaseArchiverWorkflow"
REPORT_WORKFLOW = "AdviesgroepReportWorkflow"
PURGE_WORKFLOW = "ArchivePurgeWorkflow"

# Activities (each talks to one thing, except `archive_run`, which copies one run from Temporal
# into the case store: passing histories through the workflow would put every case's history in
# the archiver's own history as well)
LIST_CASE_RUNS = "list_case_runs"  # Temporal visibility
RUNS_TO_ARCHIVE = "runs_to_archive"  # the case store
ARCHIVE_RUN = "archive_run"  # Temporal -> the case store
BUILD_REPORT = "build_report"  # the case store -> files under the reports directory
DELIVER_REPORT = "deliver_report"  # the case store (inboxes of the Adviesgroep)
PURGE_EXPIRED = "purge_expired"  # the case store

ReportKind = Literal["monitoring", "naleving"]


class RunRefModel(BaseModel):
    case_id: str
    run_id: str
    status: str
    history_length: int = 0


class ListRunsRequest(BaseModel):
    running: bool = False  # also the open runs (snapshots for reports)
    query: str = ""  # narrows the visibility query (e.g. `Municipality = 'gorinchem'`)
    page_token: str | None = None  # base64 of visibility's page token
    page_size: int = 200


class ListRunsResult(BaseModel):
    refs: list[RunRefModel] = Field(default_factory=list)
    next_page_token: str | None = None


class ArchiverInput(BaseModel):
    include_running: bool = False
    query: str = ""  # narrows the visibility query
    page_token: str | None = None
    totals: dict[str, int] = Field(default_factory=dict)  # carried over a continue-as-new


class ArchiverResult(BaseModel):
    totals: dict[str, int] = Field(default_factory=dict)


class ReportInput(BaseModel):
    """What a scheduled report run builds. Without dates the period follows from the moment the
    schedule fires (vangnet.reports.period.scheduled_period)."""

    kind: ReportKind = "monitoring"
    archive_query: str = ""  # narrows the archive refresh (ArchiverInput.query)
    period_from: date | None = None
    period_until: date | None = None
    label: str | None = None


class ReportRequest(BaseModel):
    kind: ReportKind
    period_from: date
    period_until: date
    label: str
    run_key: str  # the workflow run: names the output folder's message


class ReportFiles(BaseModel):
    kind: ReportKind
    label: str
    folder: str
    public: list[str] = Field(default_factory=list)  # small counts suppressed: for the Adviesgroep
    internal: list[str] = Field(default_factory=list)  # for the region's operators
    summary: str = ""


class ReportMessage(BaseModel):
    idempotency_key: str
    files: ReportFiles


class ReportDelivery(BaseModel):
    message_ids: list[int] = Field(default_factory=list)
    receivers: list[str] = Field(default_factory=list)
    webhook_message_ids: list[int] = Field(default_factory=list)


class PurgeInput(BaseModel):
    dry_run: bool = False


class PurgeResult(BaseModel):
    cases: int = 0
    rows: dict[str, int] = Field(default_factory=dict)
