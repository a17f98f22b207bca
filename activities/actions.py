"""The action activities of RULES §5 and §11: one activity per name in `vangnet.domain.ACTIONS`.

One implementation (`ActionActivities.deliver`) serves all 14; a factory gives each its own
activity named exactly after the action. Each activity:

1. resolves every `Receiver` role of the request to a party code through the registry
   (corporation and municipality from the request; social service and social team: the
   municipality's; mpzo: the registry's MPZO);
2. writes one inbox message per receiving party under `req.idempotency_key`; a message already
   there (a retry) is reported, not written again;
3. returns the message ids and receiver codes, with the `channel` of `early_signal_submitted`
   ("RIS" or the pair's alternative channel) and the `protocol` of `crisis_protocol_invoked`,
   and which messages go to a party with a webhook (the workflow then runs `deliver_webhook`).

All of it is one transaction on one connection: the parties are read in one statement
(`read_case_parties`, plus the route for the early signal), and the same rows say which receivers
have a webhook. Nothing is cached between activities, so routing follows `starter registry load`.

Each message's payload: action, case_id, role, reason, detail, at, and `text`, one plain-Dutch
sentence for the professional who reads it, made from the action's catalogue row
(`vangnet.vocabulary`) with the case's policy values (A11) and, where a role reads it differently
(A9: partners told), that role's wording. Log lines name the action, case, receiver and message,
never the reason or other payload fields.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import IDEMPOTENCY_CONFLICT, INVALID_ACTION_REQUEST, UNKNOWN_PARTY
from activities.dispatch import nudge_dispatcher
from vangnet import calendar, metrics, texts, vocabulary
from vangnet.domain import ACTIONS, ActionRequest, DeliveryResult, PartyKind, Receiver
from vangnet.store import Store
from vangnet.store.inbox import IdempotencyConflict, NewMessage, deliver_in
from vangnet.store.outbox import mark_pending
from vangnet.store.registry import Parties, UnknownParty, get_route, read_case_parties

log = structlog.get_logger("vangnet.activities")

# Message texts: one catalogue, vangnet.vocabulary (through vangnet.texts for reason wording).
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_GROUND = {
    "care_started": "er is zorg gestart (A9: grond om uitstel te vragen)",
    "help_after_summons": "er is hulp na de dagvaarding",
}
_REFERRED_BY = {"corporation": "via de corporatie", "social_team": "via het sociaal team"}


def _reason_part(reason: str | None, policy: dict[str, Any]) -> str:
    """" (reden: …)" for a reason code; nothing for free text, which may describe a person."""
    if not reason or not _CODE.match(reason):
        return ""
    return f" (reden: {texts.reason_text(reason, policy)})"


def _until_text(detail: dict[str, Any], policy: dict[str, Any]) -> str:
    """RULES §11 A3: the pause as it is: until a date, or while debt help or an arrangement runs."""
    until = detail.get("until")
    if isinstance(until, str) and until[:1].isdigit():
        try:
            day = calendar.local_date(datetime.fromisoformat(until.replace("Z", "+00:00")))
        except ValueError:
            day = None
        if day is not None:
            days = policy.get("collection_pause_days")
            after = f" ({days} dagen na het accepteren van hulp)" if days else ""
            return f"tot {day.isoformat()}{after}"
    if detail.get("basis") == "arrangement":
        return "zolang de betalingsregeling loopt"
    return "zolang de schuldhulp loopt"


def _values(req: ActionRequest, extra: dict[str, Any]) -> dict[str, Any]:
    """What a catalogue template may name: the case's policy (A11), the action's detail, what the
    delivery found (channel, protocol, ...) and a few phrases made from them."""
    policy = dict(req.policy)
    detail = dict(req.detail)
    values: dict[str, Any] = {**policy, **detail, **extra, "case_id": req.case_id,
                              "corporation": req.corporation, "municipality": req.municipality}
    values["reason_part"] = _reason_part(req.reason, policy)
    row = vocabulary.reason_row(req.reason)
    values["reason_message"] = (vocabulary.render(row.message, values)
                                if row is not None and row.message else "actie nodig.")
    values["until_text"] = _until_text(detail, policy)
    values["youth_note"] = (" Er is geen jeugdhulp gevraagd, dus niet bij Jeugdteams."
                            if extra.get("joint_youth_team") else "")
    outcome = texts.OUTCOME.get(str(detail.get("outcome", "")), "")
    values["outcome_part"] = f" ({outcome})" if outcome else ""
    values["ground_text"] = _GROUND.get(str(detail.get("ground")), _GROUND["help_after_summons"])
    values["referred_by_text"] = _REFERRED_BY.get(str(detail.get("referred_by")),
                                                  "via een partner")
    return values


def _text(action: str, req: ActionRequest, extra: dict[str, Any], role: Receiver | None = None) -> str:
    """The message a receiving role reads (RULES §5, §11 A9, A11), from the catalogue."""
    try:
        row = vocabulary.ACTIONS[vocabulary.Action(action)]
    except ValueError:
        return f"{action} voor {req.case_id}."
    template = row.by_role.get(role.value, row.message) if role is not None else row.message
    return vocabulary.render(template, _values(req, extra))


# Failpoint for the crash test (tests/workflow/test_worker_crash.py): with this variable set to an
# action name, the worker process dies right after that action's messages are committed and
# before the activity reports back, the worst moment for exactly-once. Unset in normal runs.
CRASH_AFTER_ENV = "VANGNET_FAILPOINT_CRASH_AFTER_DELIVERY"
CRASH_EXIT_CODE = 86


def _failpoint_after_delivery(action: str) -> None:
    if os.environ.get(CRASH_AFTER_ENV) == action:
        log.warning("failpoint_crash", action=action)
        os._exit(CRASH_EXIT_CODE)


def _fail(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


async def _resolve(
    session: AsyncSession, action: str, req: ActionRequest
) -> tuple[Parties, dict[Receiver, str], dict[str, Any]]:
    """The registry as it is now: the case's parties, each receiving role's party code, and what
    the action adds to the payload. Raises UnknownParty for a missing or wrongly-kinded party."""
    parties = await read_case_parties(session, req.corporation, req.municipality)
    parties.require_kind(req.corporation, PartyKind.corporation)
    municipality = parties.municipality(req.municipality)
    codes: dict[Receiver, str] = {}
    for role in req.receivers:
        if role in codes:
            continue
        if role is Receiver.corporation:
            codes[role] = req.corporation
        elif role is Receiver.municipality:
            codes[role] = req.municipality
        elif role is Receiver.social_service:
            parties.require_kind(municipality.social_service, PartyKind.social_service)
            codes[role] = municipality.social_service
        elif role is Receiver.social_team:
            parties.require_kind(municipality.social_team, PartyKind.social_team)
            codes[role] = municipality.social_team
        elif role is Receiver.mpzo:
            codes[role] = parties.mpzo_code()
    extra: dict[str, Any] = {}
    if action == "early_signal_submitted":
        route = await get_route(session, req.corporation, req.municipality)
        extra["channel"] = route.channel
    elif action == "crisis_protocol_invoked":
        extra["protocol"] = parties.social_service(municipality.social_service).crisis_protocol
    elif action == "casusregie_assigned":
        # Footnote 2: a joint team's Jeugdteams part takes casusregie only when youth care is
        # asked for, which this flow never does: it lies with the social team.
        team = parties.social_team(municipality.social_team)
        extra["casusregie"] = "social_team"
        extra["casusregie_party"] = team.code
        extra["joint_youth_team"] = team.joint_youth_team
        extra["youth_care_requested"] = False
    return parties, codes, extra


def _messages(
    action: str, req: ActionRequest, codes: dict[Receiver, str], extra: dict[str, Any]
) -> list[NewMessage]:
    """One message per receiving party, all under the request's idempotency key. A role the
    catalogue marks `codes_only` gets no reason and no detail (A9(b): the social team hears that
    the case moved to spoor 2, not why)."""
    body = req.model_dump(mode="json", include={"action", "case_id", "reason", "detail", "at"})
    if body["reason"] is not None and not _CODE.match(body["reason"]):
        body["reason"] = None  # a code of the rules core, never free text (issue 12)
    body.update(extra)
    row = vocabulary.ACTIONS.get(vocabulary.Action(action)) if action in ACTIONS else None
    codes_only = row.codes_only if row is not None else frozenset()
    messages = []
    for role, code in codes.items():
        payload = {**body, "text": _text(action, req, extra, role), "role": role.value}
        if role.value in codes_only:
            payload.pop("reason", None)
            payload.pop("detail", None)
        messages.append(NewMessage(party_code=code, idempotency_key=req.idempotency_key,
                                   case_id=req.case_id, action=action, payload=payload))
    return messages


class ActionActivities:
    """The action activities, bound to one store. `all()` lists them for a Worker."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.activities: dict[str, Callable[[ActionRequest], Any]] = {
            name: self._make(name) for name in ACTIONS
        }

    def all(self) -> list[Callable[..., Any]]:
        return list(self.activities.values())

    def _make(self, action: str) -> Callable[[ActionRequest], Any]:
        async def run(req: ActionRequest) -> DeliveryResult:
            return await self.deliver(action, req)

        run.__name__ = action
        run.__qualname__ = f"{type(self).__name__}.{action}"
        run.__doc__ = f"Deliver the action {action!r} to its receivers' inboxes (RULES §5)."
        return activity.defn(name=action)(run)

    async def deliver(self, action: str, req: ActionRequest) -> DeliveryResult:
        if req.action != action:
            raise _fail(f"activity {action} received a request for action {req.action!r}",
                        INVALID_ACTION_REQUEST)
        if not req.receivers:
            raise _fail(f"{action} for {req.case_id}: no receivers", INVALID_ACTION_REQUEST)

        try:
            async with self.store.sessions() as session, session.begin():
                parties, codes, extra = await _resolve(session, action, req)
                delivered = await deliver_in(session, _messages(action, req, codes, extra))
                with_webhook = parties.with_webhook(d.party_code for d in delivered)
                # The webhook outbox (issue 10): these messages are due for the dispatcher now.
                to_push = [d.message_id for d in delivered
                           if d.party_code in with_webhook and not d.duplicate]
                await mark_pending(session, to_push, datetime.now(UTC))
        except UnknownParty as err:
            raise _fail(f"{action} for {req.case_id}: {err}", UNKNOWN_PARTY) from None
        except IdempotencyConflict as err:
            raise _fail(str(err), IDEMPOTENCY_CONFLICT) from None

        if to_push and activity.in_activity():
            await nudge_dispatcher(activity.info().task_queue)
        _failpoint_after_delivery(action)
        if not all(d.duplicate for d in delivered):
            metrics.count_action(action, req.reason)
        attempt = activity.info().attempt if activity.in_activity() else None
        for d in delivered:
            log.info(
                "inbox_message_delivered",
                action=action,
                case_id=req.case_id,
                receiver=d.party_code,
                message_id=d.message_id,
                duplicate=d.duplicate,
                attempt=attempt,
            )
        return DeliveryResult(
            action=action,
            message_ids=[d.message_id for d in delivered],
            receivers=[d.party_code for d in delivered],
            channel=extra.get("channel"),
            protocol=extra.get("protocol"),
            duplicate=all(d.duplicate for d in delivered),
            webhook_message_ids=[d.message_id for d in delivered if d.party_code in with_webhook],
        )
