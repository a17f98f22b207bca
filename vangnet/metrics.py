"""Every metric vangnet exports, in one place (issue 13; docs/operations.md explains each).

Three sources end up on one scrape per process:

- **prometheus_client metrics** defined here: the intake's events and request durations
  (starter/observability.py), the actions, escalations and webhook attempts counted where they
  happen (activities/actions.py, activities/webhooks.py), and the case-store figures computed on
  scrape (`StoreCollector`: open cases by stage, inbox backlog, pushes pending/failed);
- **workflow-side metrics** recorded with `workflow.metric_meter()`, which the SDK does not record
  during replay: deadlines fired and their lateness (`record_deadlines_fired`);
- **the Temporal SDK's own metrics** (`temporal_*`: task latencies, slots, polls, sticky cache,
  requests). `install_sdk_metrics()` gives the process a Temporal `Runtime` whose Prometheus
  exporter listens on a loopback port of its own; `SdkCollector` reads it on every scrape and
  serves it with the rest, so each process is one scrape target.

Labels carry codes only: event type, party code, error code, action, reason, stage, route
template, deadline kind. Nothing that names a tenancy or a case (RULES §3) is ever a label value:
every value passes through `label()` and a closed vocabulary, and tests/ops checks it on a scrape.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from vangnet.domain import ACTIONS, EVENT_MODELS, Stage

# No `*_created` series beside every counter and histogram: they double the output for nothing
# the dashboard or the alert rules use.
disable_created_metrics()

# ---------------------------------------------------------------------------------------------
# Label values: codes only
# ---------------------------------------------------------------------------------------------

OTHER = "other"
UNKNOWN = "unknown"
NONE = "none"
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PARTY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

# RULES §4 and the §11 additions (A1, A2), so the label keeps working whichever lands first.
EVENT_TYPES = frozenset(EVENT_MODELS) | {"progress_reported", "debt_help_ended"}
# RULES §5 and §11's referral_forwarded (A9d).
ACTION_NAMES = frozenset(ACTIONS) | {"referral_forwarded"}
# RULES R2, R4, R8, R9, R10 and §11 A1, A4, A6, A7.
ESCALATION_REASONS = frozenset({
    "reminder_missing", "pause_expired", "crisis_meeting_overdue", "moratorium_excluded_nuisance",
    "relapse", "case_stalled", "mpzo_plan_overdue", "eviction_outcome_unknown", "moratorium_ended",
    "moratorium_breached",
})
STAGES = frozenset(s.value for s in Stage)
WEBHOOK_RESULTS = ("delivered", "retrying", "failed", "skipped")


def label(value: Any, vocabulary: Iterable[str] | None = None, *, pattern: re.Pattern[str] = _CODE,
          fallback: str = OTHER) -> str:
    """A label value: `value` if it is a code (and in `vocabulary`, when given), else `fallback`.
    Free text, ids and references never pass: a case id has upper case, digits after a hyphen,
    or is not in the vocabulary."""
    if not isinstance(value, str) or not pattern.match(value):
        return fallback
    if vocabulary is not None and value not in vocabulary:
        return fallback
    return value


def party_label(code: Any) -> str:
    """A party code of the registry (lower case, hyphens allowed), `operator` or `auditor`."""
    return label(code, pattern=_PARTY)


def event_type_label(value: Any) -> str:
    return label(value, EVENT_TYPES, fallback=UNKNOWN)


# ---------------------------------------------------------------------------------------------
# The intake (starter/observability.py)
# ---------------------------------------------------------------------------------------------

INTAKE_EVENTS = Counter(
    "vangnet_intake_events",
    "Events answered by the intake, one per event (a batch counts each item): by type, sending "
    "party, outcome (accepted, duplicate, refused) and error code (none when accepted).",
    ["type", "party", "outcome", "code"],
)
INTAKE_REQUEST_DURATION = Histogram(
    "vangnet_intake_request_duration_seconds",
    "Duration of the intake's HTTP requests, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


def count_event(event_type: Any, party: Any, outcome: str, code: str = NONE) -> None:
    INTAKE_EVENTS.labels(event_type_label(event_type), party_label(party), outcome,
                         label(code, fallback=OTHER)).inc()


# ---------------------------------------------------------------------------------------------
# The worker's activities (activities/actions.py, activities/webhooks.py)
# ---------------------------------------------------------------------------------------------

ACTIONS_DELIVERED = Counter(
    "vangnet_actions",
    "Actions of RULES §5 delivered to their receivers' inboxes, by action (a retry that finds "
    "the messages already there is not counted again).",
    ["action"],
)
ESCALATIONS = Counter(
    "vangnet_escalations",
    "escalation_raised actions delivered, by reason (R2 reminder_missing, R4 pause_expired, R8 "
    "crisis_meeting_overdue, R9/A6 moratorium_excluded_nuisance, R10 relapse, A1 case_stalled, "
    "mpzo_plan_overdue, eviction_outcome_unknown, A4 moratorium_ended, A7 moratorium_breached).",
    ["reason"],
)
WEBHOOK_ATTEMPTS = Counter(
    "vangnet_webhook_attempts",
    "Webhook push attempts, by party and result (delivered; retrying: refused or unreachable, "
    "Temporal retries; failed: refused for good; skipped: the party has no webhook).",
    ["party", "result"],
)


def count_action(action: str, reason: str | None) -> None:
    """A first delivery of `action` (not a retry that found its messages delivered)."""
    ACTIONS_DELIVERED.labels(label(action, ACTION_NAMES)).inc()
    if action == "escalation_raised":
        ESCALATIONS.labels(label(reason, ESCALATION_REASONS)).inc()


def count_webhook_attempt(party: str, result: str) -> None:
    WEBHOOK_ATTEMPTS.labels(party_label(party), label(result, WEBHOOK_RESULTS)).inc()


# ---------------------------------------------------------------------------------------------
# The workflow (workflows/case.py), through workflow.metric_meter(): not recorded on replay
# ---------------------------------------------------------------------------------------------

DEADLINES_FIRED = "vangnet_deadlines_fired"  # exported as vangnet_deadlines_fired_total
DEADLINE_LATENESS = "vangnet_deadline_lateness"  # exported as vangnet_deadline_lateness_seconds
LATENESS_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600)


def record_deadlines_fired(meter: Any, fired: Iterable[tuple[str, datetime]], now: datetime,
                           via: str = "timer") -> None:
    """Count each deadline that fires, by kind and by what made it fire (`via`: its durable
    `timer`, or an `event` that arrived after the due time, e.g. arrears reported already past
    the early-signal threshold). For timers, also how late it fired (workflow time minus due
    time): a timer fires late when no worker picks up the workflow task, e.g. all are down.
    `meter` is `workflow.metric_meter()`: the SDK skips recording while a history is replayed."""
    fired = list(fired)
    if not fired:
        return
    counter = meter.create_counter(DEADLINES_FIRED, "Deadlines of a case that fired, by kind and "
                                   "by what made them fire (timer or event).")
    lateness = None
    if via == "timer":
        lateness = meter.create_histogram_float(
            DEADLINE_LATENESS, "How long after its due time a deadline's timer fired.", "seconds"
        )
    for kind, due in fired:
        attrs = {"deadline": label(kind)}
        counter.add(1, {**attrs, "via": label(via, ("timer", "event"))})
        if lateness is not None:
            lateness.record(max(0.0, (now - due).total_seconds()), attrs)


# ---------------------------------------------------------------------------------------------
# The case store, computed on scrape (the intake's /metrics)
# ---------------------------------------------------------------------------------------------

OPEN_CASES = "vangnet_open_cases"
INBOX_UNACKED = "vangnet_inbox_unacked_messages"
INBOX_OLDEST = "vangnet_inbox_oldest_unacked_age_seconds"
PUSHES_PENDING = "vangnet_webhook_pushes_pending"
PUSHES_FAILED = "vangnet_webhook_pushes_failed"
STORE_UP = "vangnet_store_snapshot_up"


class StoreCollector(Collector):
    """Serves the latest `OperationsSnapshot` (vangnet/store/operations.py). The intake refreshes
    it before a scrape when it is older than `max_age`; the collector itself never blocks."""

    def __init__(self, max_age: timedelta = timedelta(seconds=10)) -> None:
        self.max_age = max_age
        self.snapshot: Any = None
        self.taken_at = 0.0  # time.monotonic()
        self.ok = False

    def stale(self) -> bool:
        return time.monotonic() - self.taken_at >= self.max_age.total_seconds()

    def update(self, snapshot: Any, ok: bool = True) -> None:
        if ok:
            self.snapshot = snapshot
        self.ok = ok
        self.taken_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(STORE_UP, "1 when the last read of the case store for these figures "
                               "succeeded, 0 when it failed (the figures are then the previous ones).")
        up.add_metric([], 1.0 if self.ok else 0.0)
        yield up
        snap = self.snapshot
        if snap is None:
            return
        yield _gauge(OPEN_CASES, "Open case episodes by stage (the case store's projection).",
                     "stage", snap.open_cases, STAGES)
        yield _gauge(INBOX_UNACKED, "Inbox messages not yet acknowledged, by party.", "party",
                     snap.inbox_unacked)
        yield _gauge(INBOX_OLDEST, "Age of the oldest unacknowledged inbox message, by party "
                     "(0 when none).", "party", snap.inbox_oldest_age)
        yield _gauge(PUSHES_PENDING, "Webhook pushes not yet delivered (pending or being retried), "
                     "by party.", "party", snap.pushes_pending)
        yield _gauge(PUSHES_FAILED, "Unacknowledged messages whose webhook push failed for good "
                     "(refused, or retried for the give-up period), by party.", "party", snap.pushes_failed)

    def describe(self) -> list[Metric]:
        return []


def _gauge(name: str, doc: str, key: str, values: Mapping[str, float],
           vocabulary: Iterable[str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[key])
    totals: dict[str, float] = {}
    for k, v in values.items():
        value = label(k, vocabulary) if key == "stage" else party_label(k)
        totals[value] = totals.get(value, 0.0) + float(v)
    for k in sorted(totals):
        family.add_metric([k], totals[k])
    return family


# ---------------------------------------------------------------------------------------------
# The Temporal SDK's own metrics
# ---------------------------------------------------------------------------------------------

SDK_UP = "vangnet_temporal_sdk_metrics_up"
# The SDK metrics the dashboard and alert rules use (temporalio 1.35, Prometheus exporter with
# counters_total_suffix, unit_suffix and durations_as_seconds): tests/ops checks that a real
# worker exports them.
SDK_METRICS = frozenset({
    "temporal_workflow_task_schedule_to_start_latency_seconds",
    "temporal_activity_schedule_to_start_latency_seconds",
    "temporal_workflow_task_execution_latency_seconds",
    "temporal_activity_execution_latency_seconds",
    "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used",
    "temporal_sticky_cache_size",
    "temporal_num_pollers",
    "temporal_request_total",
})
# SDK metrics that appear only once their event has happened (a workflow completed, a task or
# an activity failed, a request failed).
SDK_METRICS_ON_EVENT = frozenset({
    "temporal_workflow_completed_total",
    "temporal_workflow_failed_total",
    "temporal_workflow_task_execution_failed_total",
    "temporal_activity_execution_failed_total",
    "temporal_request_failure_total",
})


class SdkCollector(Collector):
    """Reads the SDK's Prometheus endpoint (loopback only) and serves its families."""

    def __init__(self) -> None:
        self.url: str | None = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(SDK_UP, "1 when the Temporal SDK's own metrics could be read.")
        families: list[Metric] = []
        ok = False
        if self.url is not None:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:  # loopback
                    text = response.read().decode("utf-8")
                families = list(text_string_to_metric_families(text))
                ok = True
            except Exception:  # reported as vangnet_temporal_sdk_metrics_up 0
                families = []
        up.add_metric([], 1.0 if ok else 0.0)
        yield up
        yield from families

    def describe(self) -> list[Metric]:
        return []


SDK_COLLECTOR = SdkCollector()
STORE_COLLECTOR = StoreCollector()
_registered: set[str] = set()
_lock = threading.Lock()


def register(name: str, collector: Collector, registry: CollectorRegistry = REGISTRY) -> None:
    """Register a collector once per process."""
    with _lock:
        if name not in _registered:
            registry.register(collector)
            _registered.add(name)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sdk_runtime(bind_address: str) -> Any:
    """A Temporal Runtime whose Prometheus exporter listens on `bind_address`."""
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=bind_address,
        counters_total_suffix=True,
        unit_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides={DEADLINE_LATENESS: list(LATENESS_BUCKETS)},
    )))


def install_sdk_metrics() -> Any:
    """Make the process's default Temporal Runtime export the SDK's metrics (to a loopback port),
    served through `SdkCollector` on the process's own metrics endpoint. Call once, before the
    first Temporal client connects. Returns the Runtime."""
    from temporalio.runtime import Runtime

    port = free_loopback_port()
    runtime = sdk_runtime(f"127.0.0.1:{port}")
    Runtime.set_default(runtime, error_if_already_set=True)
    SDK_COLLECTOR.url = f"http://127.0.0.1:{port}/metrics"
    register("sdk", SDK_COLLECTOR)
    return runtime


# The text format every Prometheus version reads (2.x and 3.x).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The process's metrics in Prometheus text format (blocking: the SDK collector reads its
    loopback endpoint; call it in a thread from async code)."""
    return generate_latest(registry)


# Every series name this project exports (what the dashboard and the alert rules may use).
PROJECT_METRICS = frozenset({
    "vangnet_intake_events_total",
    "vangnet_intake_request_duration_seconds",
    "vangnet_actions_total",
    "vangnet_escalations_total",
    "vangnet_webhook_attempts_total",
    "vangnet_deadlines_fired_total",
    "vangnet_deadline_lateness_seconds",
    OPEN_CASES, INBOX_UNACKED, INBOX_OLDEST, PUSHES_PENDING, PUSHES_FAILED, STORE_UP, SDK_UP,
})
ALL_METRICS = PROJECT_METRICS | SDK_METRICS | SDK_METRICS_ON_EVENT

__all__ = [
    "label", "party_label", "event_type_label", "count_event", "count_action",
    "count_webhook_attempt", "record_deadlines_fired", "StoreCollector", "SdkCollector",
    "SDK_COLLECTOR", "STORE_COLLECTOR", "register", "exposition", "CONTENT_TYPE", "install_sdk_metrics", "sdk_runtime",
    "PROJECT_METRICS", "SDK_METRICS", "SDK_METRICS_ON_EVENT", "ALL_METRICS",
]
