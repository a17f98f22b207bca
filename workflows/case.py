"""TenantCaseWorkflow: one durable case per tenancy episode (RULES.md §3, §9).

Thin glue around the pure rules core (`vangnet.rules`): signals are queued and fed to the core
in the order received; the earliest deadline in the case state becomes a durable timer; the
actions the core returns run as activities (one per action). Search attributes, the case-store
projection and the UI details follow each step.

Determinism: only `workflow.now()`, no I/O, no randomness. Any change to the decisions made
here or in the core must keep old histories replaying: guard it with `workflow.patched(...)`
and add a history to tests/histories/ (the replay test runs over all of them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import ARCHIVE_TIMELINE, DELIVER_WEBHOOK, RECORD_CASE, RESOLVE_CASE_CONTEXT
    from vangnet import calendar, metrics, rules, texts
    from vangnet import case_messages as msg
    from vangnet import search_attributes as sa_keys
    from vangnet.domain import (
        ActionRequest,
        CaseContext,
        CaseContextRequest,
        CaseInput,
        CaseProjection,
        DeliveryResult,
        InvalidEvent,
        WebhookRequest,
        WebhookResult,
        case_id_for,
        parse_event,
    )

# A delivery is one small transaction; 10 s also bounds how long a crashed worker holds one.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
TIMELINE_IN_DETAILS = 6
# Webhooks (activities/webhooks.py): retried with backoff for up to a day; the inbox keeps the
# message whatever happens, so a receiver that stays down costs it the push, not the message.
WEBHOOKS_PATCH = "webhooks-v1"
# Issue 10: delivery outside the case. Messages to a party with a webhook are pushed by the outbox
# dispatcher (workflows/dispatcher.py); a case no longer runs, or waits for, any push. Runs whose
# history already pushed (webhooks-v1 without this marker) keep pushing to their end.
OUTBOX_PATCH = "webhooks-outbox-v1"
WEBHOOK_TIMEOUT = timedelta(seconds=30)
WEBHOOK_GIVE_UP = timedelta(days=1)
WEBHOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
# Lean steps (docs/benchmarks.md, proposals 1 and 2): the case context and the case-store
# projection run as local activities (a marker in the workflow task instead of a task round-trip
# through the server each), and a step upserts only the search attributes that changed since the
# run started (none before the opening event). Cases whose run started before this patch keep
# their old command sequence to the end of that run.
LEAN_STEPS_PATCH = "lean-steps-v1"
# RULES.md §11 (A1-A12, "no case falls through"): runs that start with this patch apply the
# amended rules (the case state says so, `rules_version`; a case carried over from an earlier run
# is upgraded when the new run starts), validate events with A12's checks, and record an event or
# deadline that fails in a way the rules did not foresee as `ignored` instead of failing the
# workflow task again and again. Runs that started before it keep the first rules to their end.
NO_CASE_FALLS_THROUGH_PATCH = "no-case-falls-through-v1"

# Issue 10: the case list (`GET /v1/cases`) is served from the case store; runs that start with
# this patch also project when their next deadline moves (one more local activity then), so the
# list can filter on it.
CASE_LIST_PATCH = "case-list-v1"

# The intake keeps its word (RULES §12): events from the intake arrive as the update
# `submit_event` (vangnet/case_messages.py), whose handler waits for the event's verdict; and the
# timeline stays bounded: past `CaseInput.timeline_limit` entries the oldest are archived to the
# case store by a local activity, a third of the limit at a time at least (100 for the default
# 300). Only the archive adds commands, so the patch is asked for when a case first has that much
# to archive.
INTAKE_PATCH = "intake-keeps-its-word-v1"


class _Waiter:
    """An intake event in the queue, and the verdict its update handler waits for."""

    def __init__(self, entry: tuple[str, Any]) -> None:
        self.entry = entry
        self.verdict: msg.EventVerdict | None = None


@workflow.defn(name=msg.CASE_WORKFLOW)
class TenantCaseWorkflow:
    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        if input.state is not None:
            self._state = rules.CaseState.model_validate(input.state)
        else:
            self._state = rules.new_case(
                case_id_for(input.corporation, input.tenancy_ref),
                input.tenancy_ref,
                input.corporation,
                input.municipality,
                rules_version=rules.RULES_BEFORE_AMENDMENTS,  # until run() decides
            )
        self._pending: list[tuple[str, Any]] = []
        self._published: dict[str, Any] = {}
        self._lean = False  # LEAN_STEPS_PATCH, decided at the start of the run
        self._amended = False  # NO_CASE_FALLS_THROUGH_PATCH, decided at the start of the run
        self._listed = False  # CASE_LIST_PATCH, decided at the start of the run
        self._projected: tuple[Any, ...] | None = None
        self._webhooks: set[asyncio.Task[None]] = set()  # deliveries in flight
        self._waiting: list[_Waiter] = []  # intake events whose verdict is not given yet
        self._timeline_limit = input.timeline_limit
        self._archived = input.timeline_archived  # timeline entries kept in the case store

    # -- messages in ---------------------------------------------------------------------------

    @workflow.signal(dynamic=True)
    def on_event(self, name: str, args: Sequence[RawValue]) -> None:
        """Every event of RULES §4 arrives as a signal named after it; validated in order."""
        payload: Any = None
        if args:
            try:
                payload = workflow.payload_converter().from_payload(args[0].payload, dict)
            except Exception:  # malformed payloads are recorded, not fatal
                payload = None
        self._pending.append((name, payload))

    @workflow.update(name=msg.SUBMIT_EVENT)
    async def submit_event(self, submission: msg.EventSubmission) -> msg.EventVerdict:
        """An event from the intake (RULES §12 I1, I2): queued behind everything received before
        it, applied in turn like a signal; the answer is the case's own verdict."""
        waiter = _Waiter((submission.type, dict(submission.event)))
        self._pending.append(waiter.entry)
        self._waiting.append(waiter)
        await workflow.wait_condition(lambda: waiter.verdict is not None)
        assert waiter.verdict is not None
        return waiter.verdict

    @submit_event.validator
    def _check_submission(self, submission: msg.EventSubmission) -> None:
        """Refuse, before it reaches history, what this case cannot take."""
        state = self._state
        if (submission.corporation, submission.tenancy_ref) != (state.corporation, state.tenancy_ref):
            raise ApplicationError(f"the event is not about case {state.case_id}",
                                   type=msg.REJECTED_OTHER_CASE, non_retryable=True)
        if submission.municipality != state.municipality:
            raise ApplicationError(
                f"case {state.case_id} is in another municipality than the event names",
                state.municipality, type=msg.REJECTED_MUNICIPALITY, non_retryable=True)
        if state.closed:
            outcome = state.outcome.value if state.outcome else None
            raise ApplicationError(f"case {state.case_id} is closed", outcome,
                                   type=msg.REJECTED_CLOSED, non_retryable=True)
        try:
            parse_event(submission.type, submission.event, now=workflow.now())
        except InvalidEvent as err:
            raise ApplicationError(err.message, err.field, type=msg.REJECTED_INVALID,
                                   non_retryable=True) from None

    @workflow.query(name="status")
    def status(self) -> msg.CaseStatus:
        """RULES §9 `status` (the same JSON as `rules.status`, extras included)."""
        return msg.CaseStatus.model_validate(rules.status(self._state, workflow.now()))

    @workflow.query(name="timeline")
    def timeline(self) -> list[msg.TimelineEntry]:
        """RULES §9 `timeline`: every entry the case holds (older ones may be archived)."""
        return [msg.TimelineEntry.model_validate(e) for e in rules.timeline(self._state)]

    @workflow.query(name=msg.TIMELINE_TAIL)
    def timeline_tail(self) -> msg.TimelineTail:
        """The timeline the case holds; the `archived` entries before it are in the case store."""
        return msg.TimelineTail(first_run_id=workflow.info().first_execution_run_id,
                                archived=self._archived, entries=rules.timeline(self._state))

    @workflow.query(name="state")
    def state(self) -> dict[str, Any]:
        """The whole case state, for auditors and support (no personal data is ever in it)."""
        return self._state.model_dump(mode="json")

    # -- the case ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CaseInput) -> dict[str, Any]:
        info = workflow.info()
        self._lean = workflow.patched(LEAN_STEPS_PATCH)
        self._amended = workflow.patched(NO_CASE_FALLS_THROUGH_PATCH)
        self._listed = workflow.patched(CASE_LIST_PATCH)
        if self._amended:
            self._state = rules.upgrade(self._state, workflow.now())
        if self._lean:
            self._published = sa_keys.current_values(info.typed_search_attributes)
            if input.state is not None:
                # Continued as new right after a step: the projection is current already.
                self._projected = self._projection_key()
        if self._state.context is None:
            self._state.context = await self._store_call(
                RESOLVE_CASE_CONTEXT,
                CaseContextRequest(
                    case_id=self._state.case_id,
                    corporation=self._state.corporation,
                    municipality=self._state.municipality,
                    run_id=info.first_execution_run_id,
                ),
                result_type=CaseContext,
                summary="Partijen, routering en beleid vaststellen",
            )
        if not (self._lean and self._pending):
            # (Lean: an opening event is waiting, and the step it makes publishes.)
            await self._publish()

        while not self._state.closed:
            await self._wait_for_work()
            if self._deadline_due() or not self._pending:
                # A timer that fell due before a queued event happened before it: fire it first.
                step = self._fire_deadlines()
                via = "timer"
            else:
                step = self._apply_queued()
                via = "event"
            await self._commit(step, via)
            await self._archive_timeline()
            if not self._state.opened and not self._pending:
                raise ApplicationError(
                    "no open case for this tenancy: a case opens with arrears_reported, "
                    "self_referral or concern_reported",
                    type="NoOpenCase",
                    non_retryable=True,
                )
            if not self._state.closed and not self._pending and self._history_is_long(input):
                # An update that comes in meanwhile waits for its verdict: apply it first.
                await workflow.wait_condition(
                    lambda: (workflow.all_handlers_finished() and not self._webhooks)
                    or bool(self._pending)
                )
                if not self._pending:
                    workflow.continue_as_new(
                        CaseInput(
                            tenancy_ref=self._state.tenancy_ref,
                            corporation=self._state.corporation,
                            municipality=self._state.municipality,
                            state=self._state,
                            history_limit=input.history_limit,
                            timeline_limit=self._timeline_limit,
                            timeline_archived=self._archived,
                        )
                    )

        # The closing messages' webhooks go out before the run ends.
        await workflow.wait_condition(lambda: not self._webhooks)
        # Events that raced with the close are recorded as ignored, never silently dropped.
        while self._pending:
            await self._commit(self._apply_queued())
        # Every update handler hands its verdict back before the run ends (none is abandoned).
        await workflow.wait_condition(workflow.all_handlers_finished)
        return rules.status(self._state, workflow.now())

    async def _wait_for_work(self) -> None:
        """Until an event arrives or the next deadline falls due. A case in arrears also wakes
        when its months in arrears grow by age, so `ArrearsMonths` never goes stale."""
        if self._pending:
            return
        now = workflow.now()
        wake: list[tuple[datetime, str]] = []
        nxt = rules.next_deadline(self._state)
        if nxt is not None:
            wake.append((nxt[1], texts.deadline_summary(nxt[0], self._policy())))
        month_mark = rules.next_month_mark(self._state, now)
        if month_mark is not None:
            wake.append((month_mark, texts.MONTH_MARK))
        if not wake:
            await workflow.wait_condition(lambda: bool(self._pending))
            return
        due, summary = min(wake, key=lambda w: w[0])
        timeout = due - now
        if timeout <= timedelta(0):
            return
        try:
            await workflow.wait_condition(
                lambda: bool(self._pending), timeout=timeout, timeout_summary=summary
            )
        except TimeoutError:
            pass

    def _deadline_due(self) -> bool:
        nxt = rules.next_deadline(self._state)
        return nxt is not None and nxt[1] <= workflow.now()

    def _apply_next(self) -> rules.Step:
        name, payload = self._pending.pop(0)
        now = workflow.now()
        try:
            # Validated (A12 under the patch) and applied; a malformed one is recorded `ignored`.
            return rules.apply_payload(self._state, name, payload, now)
        except Exception as err:
            if not self._amended:
                raise
            # A12: one bad event never blocks the next (the type only: no payload in logs)
            workflow.logger.warning("event %s ignored: %s", name, rules.internal_error(err))
            return rules.ignore_payload(self._state, name, payload, rules.internal_error(err), now)

    def _fire_deadlines(self) -> rules.Step:
        now = workflow.now()
        try:
            return rules.fire_due_deadlines(self._state, now)
        except Exception as err:
            if not self._amended:
                raise
            # A12: the core drops a failing deadline itself; this catches the machinery failing
            workflow.logger.warning("deadline skipped: %s", rules.internal_error(err))
            return rules.skip_due_deadline(self._state, now, rules.internal_error(err))

    def _apply_queued(self) -> rules.Step:
        """Apply the next queued event; an intake event's handler gets the verdict."""
        entry = self._pending[0]
        was_closed = self._state.closed
        step = self._apply_next()
        waiter = next((w for w in self._waiting if w.entry is entry), None)
        if waiter is not None:
            self._waiting.remove(waiter)
            outcome = step.state.outcome.value if step.state.outcome else None
            if step.duplicate:
                waiter.verdict = msg.EventVerdict(verdict="duplicate", outcome=outcome)
            elif step.ignored is not None:
                waiter.verdict = msg.EventVerdict(verdict="ignored", reason=step.ignored,
                                                  case_closed=was_closed, outcome=outcome)
            else:
                waiter.verdict = msg.EventVerdict(verdict="applied", outcome=outcome)
        return step

    async def _archive_timeline(self) -> None:
        """Bounded state (RULES §12): move the oldest timeline entries beyond the limit to the
        case store (idempotent by position), so that continue-as-new carries only the rest."""
        excess = archive_count(len(self._state.timeline), self._timeline_limit)
        if not excess or not workflow.patched(INTAKE_PATCH):
            return
        entries = self._state.timeline[:excess]
        await self._store_call(
            ARCHIVE_TIMELINE,
            msg.TimelineArchive(
                case_id=self._state.case_id, run_id=workflow.info().first_execution_run_id,
                offset=self._archived, entries=[e.model_dump(mode="json") for e in entries],
            ),
            summary=f"Tijdlijn archiveren: {excess} oudere stappen",
        )
        del self._state.timeline[:excess]
        self._archived += excess

    async def _commit(self, step: rules.Step, via: str = "event") -> None:
        self._state = step.state
        # Metrics only, no command (the SDK records nothing while a history is replayed).
        metrics.record_deadlines_fired(workflow.metric_meter(), step.fired, workflow.now(), via)
        if step.actions:
            # One after the other: each party reads its messages in the order the rules made them.
            results = [await self._run_action(a) for a in step.actions]
            self._record_deliveries(results)
        await self._publish()

    async def _run_action(self, planned: rules.PlannedAction) -> tuple[int, DeliveryResult]:
        state = self._state
        info = workflow.info()
        request = ActionRequest(
            action=planned.action,
            case_id=state.case_id,
            idempotency_key=f"{state.case_id}/{info.first_execution_run_id}/{planned.seq}",
            corporation=state.corporation,
            municipality=state.municipality,
            receivers=planned.receivers,
            reason=planned.reason,
            detail=planned.detail,
            at=workflow.now(),
            policy=self._policy(),  # A11: texts state the case's own periods
        )
        result = await workflow.execute_activity(
            planned.action,
            request,
            result_type=DeliveryResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            summary=texts.action_summary(planned.action, planned.reason, self._policy()),
        )
        if (result.webhook_message_ids and not workflow.patched(OUTBOX_PATCH)
                and workflow.patched(WEBHOOKS_PATCH)):
            # In the background: a slow receiver never holds up the case.
            for message_id in result.webhook_message_ids:
                task = asyncio.create_task(self._deliver_webhook(message_id))
                self._webhooks.add(task)
                task.add_done_callback(self._webhooks.discard)
        return planned.seq, result

    async def _deliver_webhook(self, message_id: int) -> None:
        try:
            await workflow.execute_activity(
                DELIVER_WEBHOOK,
                WebhookRequest(message_id=message_id, case_id=self._state.case_id),
                result_type=WebhookResult,
                start_to_close_timeout=WEBHOOK_TIMEOUT,
                schedule_to_close_timeout=WEBHOOK_GIVE_UP,
                retry_policy=WEBHOOK_RETRY,
                summary=f"Webhook: bericht {message_id}",
            )
        except ActivityError as err:
            workflow.logger.warning(
                "webhook not delivered (message %s stays in the inbox): %s", message_id, err.cause
            )

    def _record_deliveries(self, results: list[tuple[int, DeliveryResult]]) -> None:
        """Add what the delivery found (party codes, RIS or other channel, protocol)."""
        by_seq: dict[Any, DeliveryResult] = dict(results)
        for entry in reversed(self._state.timeline):
            if entry.category != "action":
                continue
            result = by_seq.pop(entry.detail.get("seq"), None)
            if result is not None:
                entry.detail["delivered_to"] = result.receivers
                if result.channel:
                    entry.detail["channel"] = result.channel
                if result.protocol:
                    entry.detail["protocol"] = result.protocol
            if not by_seq:
                break

    # -- what the world sees -------------------------------------------------------------------

    def _policy(self) -> dict[str, Any]:
        ctx = self._state.context
        return ctx.policy.model_dump() if ctx else {}

    async def _publish(self) -> None:
        state = self._state
        now = workflow.now()
        nxt = rules.next_deadline(state)
        values: dict[str, Any] = {
            sa_keys.MUNICIPALITY.name: state.municipality,
            sa_keys.HOUSING_CORPORATION.name: state.corporation,
            sa_keys.CASE_TRACK.name: state.track.value,
            sa_keys.ARREARS_MONTHS.name: rules.months_in_arrears(state, now),
            sa_keys.NEXT_DEADLINE.name: nxt[1] if nxt else None,
            sa_keys.EVICTION_DATE.name: (
                calendar.start_of_day(state.eviction_date) if state.eviction_date else None
            ),
        }
        if state.stage is not None:
            values[sa_keys.CASE_STAGE.name] = state.stage.value
        if state.context is not None:
            values[sa_keys.SOCIAL_SERVICE.name] = state.context.social_service
        if state.outcome is not None:
            values[sa_keys.CASE_OUTCOME.name] = state.outcome.value
        updates: list[SearchAttributeUpdate[Any]] = []
        for key in sa_keys.ALL:
            if key.name not in values or self._published.get(key.name, ...) == values[key.name]:
                continue
            value = values[key.name]
            updates.append(key.value_unset() if value is None else key.value_set(value))
            self._published[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details(now, nxt))
        await self._project()

    async def _project(self) -> None:
        state = self._state
        if not state.opened or state.stage is None or state.opened_at is None:
            return
        key = self._projection_key()
        if key == self._projected:
            return
        await self._store_call(
            RECORD_CASE,
            CaseProjection(
                case_id=state.case_id,
                run_id=workflow.info().first_execution_run_id,
                corporation=state.corporation,
                municipality=state.municipality,
                stage=state.stage,
                track=state.track,
                outcome=state.outcome,
                opened_at=state.opened_at,
                closed_at=state.closed_at,
                next_deadline=self._projection_key()[3] if self._listed else None,
            ),
            summary=f"Casusregister bijwerken: {texts.STAGE.get(state.stage.value, state.stage.value)}",
        )
        self._projected = key

    def _projection_key(self) -> tuple[Any, ...]:
        """What the case-store projection changes with (and, under CASE_LIST_PATCH, its next
        deadline, which `GET /v1/cases?deadline_before=` filters on)."""
        key: tuple[Any, ...] = (self._state.stage, self._state.track, self._state.outcome)
        if self._listed:
            nxt = rules.next_deadline(self._state)
            key += (nxt[1] if nxt else None,)
        return key

    async def _store_call(
        self, activity: str, arg: Any, *, summary: str, result_type: type | None = None
    ) -> Any:
        """A short, idempotent case-store call of the case's own (context, projection): a local
        activity under LEAN_STEPS_PATCH, a regular one in runs that started before it."""
        if self._lean:
            return await workflow.execute_local_activity(
                activity, arg, result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY, summary=summary,
            )
        return await workflow.execute_activity(
            activity, arg, result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY, summary=summary,
        )

    def _details(self, now: datetime, nxt: tuple[str, datetime] | None) -> str:
        state = self._state
        stage = texts.STAGE.get(state.stage.value, state.stage.value) if state.stage else "—"
        lines = [
            f"**Casus** `{state.case_id}` — {state.corporation}, {state.municipality}",
            "",
            f"- Fase: **{stage}**",
            f"- Spoor: {texts.TRACK.get(state.track.value, state.track.value)}",
            f"- Maanden achterstand: {rules.months_in_arrears(state, now)}"
            f" ({texts.euro(state.arrears_cents)})",
            f"- Incasso: {texts.COLLECTION.get(state.collection.value, state.collection.value)}"
            + (
                f" tot {calendar.local_date(state.collection_paused_until).isoformat()}"
                if state.collection_paused_until
                else ""
            ),
        ]
        if nxt:
            due_local = nxt[1].astimezone(calendar.TZ).strftime("%Y-%m-%d %H:%M")
            lines.append(
                f"- Volgende termijn: {texts.deadline_summary(nxt[0], self._policy())} — {due_local}"
            )
        if state.eviction_date:
            lines.append(f"- Ontruimingsdatum: {state.eviction_date.isoformat()}")
        if state.moratorium_until:
            lines.append(f"- Moratorium tot en met {state.moratorium_until.isoformat()}")
        if state.outcome:
            lines.append(f"- Uitkomst: **{texts.OUTCOME.get(state.outcome.value, state.outcome.value)}**")
        recent = state.timeline[-TIMELINE_IN_DETAILS:]
        if recent:
            lines += ["", "**Laatste stappen**", ""]
            for entry in recent:
                when = entry.at.astimezone(calendar.TZ).strftime("%Y-%m-%d %H:%M")
                what = texts.timeline_line(entry.category, entry.kind, entry.detail, self._policy())
                lines.append(f"- {when} · {texts.CATEGORY.get(entry.category, entry.category)} · {what}")
        return "\n".join(lines)

    def _history_is_long(self, input: CaseInput) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= input.history_limit
        )


def archive_batch(limit: int) -> int:
    """The fewest entries archived at a time: a third of the limit (one local activity per that
    many steps, not per step)."""
    return max(1, limit // 3)


def archive_count(length: int, limit: int) -> int:
    """How many of a timeline's oldest entries to archive: none until it holds a batch more than
    `limit`, then all beyond `limit`."""
    return length - limit if length - limit >= archive_batch(limit) else 0


__all__ = ["TenantCaseWorkflow", "INTAKE_PATCH", "archive_batch", "archive_count"]
