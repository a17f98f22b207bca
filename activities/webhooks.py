"""Webhook pushes (RULES §5, issue 10): one inbox message POSTed to its party's webhook.

The outbox dispatcher (activities/dispatch.py) pushes every message; the activity
`deliver_webhook` stays for case runs that started before the patch "webhooks-outbox-v1" (they
push their own messages) and for the Adviesgroep's reports (workflows/reports.py).

The request (Standard Webhooks, vangnet/webhooks.py):

    POST <webhook_url>
    Content-Type: application/json
    webhook-id: <the message's id>
    webhook-timestamp: <Unix seconds at sending>
    webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> [v1,<… with the second secret>]
    Idempotency-Key: <the message's idempotency key>

    {"message_id", "party", "case_id", "action", "idempotency_key", "created_at", "payload"}

A 2xx answer is success. 408, 425, 429 and 5xx answers and network errors are retried; any other
4xx is final (a receiver that refuses the message will not change its mind), and so is a URL the
rules refuse. A retry sends the same body and webhook-id, so a receiver that keeps the ids it has
handled never handles a message twice. Redirects are not followed (a 3xx is refused for good).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import DELIVER_WEBHOOK
from vangnet import metrics
from vangnet.domain import WebhookRequest, WebhookResult
from vangnet.logging import register_secret
from vangnet.settings import Settings
from vangnet.store import Store
from vangnet.store.inbox import PUSH_DELIVERED, PUSH_FAILED, PUSH_RETRYING, PUSH_SKIPPED, record_push
from vangnet.store.models import InboxMessage, Party
from vangnet.webhooks import UrlPolicy, WebhookConfigError, pinned, resolve_secrets, sign_headers

log = structlog.get_logger("vangnet.activities")

RETRYABLE_4XX = frozenset({408, 425, 429})
WEBHOOK_FAILED = "WebhookRefused"
WEBHOOK_UNREACHABLE = "WebhookUnreachable"
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def message_body(msg: InboxMessage) -> bytes:
    document = {
        "message_id": msg.id,
        "party": msg.party_code,
        "case_id": msg.case_id,
        "action": msg.action,
        "idempotency_key": msg.idempotency_key,
        "created_at": msg.created_at.isoformat(),
        "payload": msg.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class PushOutcome:
    delivered: bool
    status_code: int | None = None
    error: str | None = None  # a code: unreachable, http_503, url_refused, secret_missing, …
    final: bool = False  # retrying cannot help


class Pusher:
    """POSTs messages, signed; shared by the dispatcher and `deliver_webhook`."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.policy = UrlPolicy.from_settings(settings)
        self._http = http

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def push(self, msg: InboxMessage, party: Party) -> PushOutcome:
        assert party.webhook_url
        try:
            secrets = resolve_secrets(party.code, party.webhook_secret_ref)
            for s in secrets:
                register_secret(s)  # never in a log line (RULES §12 I5)
            addresses = await self.policy.check(party.webhook_url)
        except WebhookConfigError as err:
            log.warning("webhook_not_pushed", message_id=msg.id, party=party.code, error=err.code)
            return PushOutcome(False, error=err.code, final=err.code not in ("dns_failed",))
        body = message_body(msg)
        headers = {
            "Content-Type": "application/json",
            **sign_headers(secrets, str(msg.id), body),
            "Idempotency-Key": msg.idempotency_key,
            "User-Agent": "vangnet-webhooks/2",
        }
        url, host, extensions = pinned(party.webhook_url, addresses[0])
        try:
            response = await self.http().post(url, content=body, headers={**headers, **host},
                                               extensions=extensions)
        except httpx.HTTPError as err:
            log.warning("webhook_unreachable", message_id=msg.id, party=party.code,
                        error=type(err).__name__)
            return PushOutcome(False, error="unreachable")
        status = response.status_code
        fields = dict(message_id=msg.id, party=party.code, case_id=msg.case_id, action=msg.action,
                      status=status)
        if 200 <= status < 300:
            log.info("webhook_delivered", **fields)
            return PushOutcome(True, status)
        retry = status >= 500 or status in RETRYABLE_4XX
        log.warning("webhook_refused", retry=retry, **fields)
        return PushOutcome(False, status, error=f"http_{status}", final=not retry)


class WebhookActivities:
    def __init__(self, store: Store, http: httpx.AsyncClient | None = None, *,
                 settings: Settings | None = None) -> None:
        self.store = store
        self.pusher = Pusher(settings or store.settings, http)

    def http(self) -> httpx.AsyncClient:
        return self.pusher.http()

    async def aclose(self) -> None:
        """Close the HTTP connections (when the worker stops)."""
        await self.pusher.aclose()

    async def _record(self, msg: InboxMessage, state: str) -> None:
        """The attempt's outcome in the message's push state and the metrics (issue 13)."""
        assert msg.id is not None
        await record_push(self.store.sessions, msg.id, state)
        metrics.count_webhook_attempt(msg.party_code, state)

    @activity.defn(name=DELIVER_WEBHOOK)
    async def deliver_webhook(self, req: WebhookRequest) -> WebhookResult:
        async with self.store.sessions() as session:
            msg = await session.get(InboxMessage, req.message_id)
            party = await session.get(Party, msg.party_code) if msg is not None else None
        if msg is None:
            raise ApplicationError(f"inbox message {req.message_id} of {req.case_id} does not exist",
                                   type=WEBHOOK_FAILED, non_retryable=True)
        if party is None or not party.webhook_url:
            log.info("webhook_skipped", message_id=msg.id, party=msg.party_code, reason="no_webhook")
            await self._record(msg, PUSH_SKIPPED)
            return WebhookResult(message_id=msg.id, party_code=msg.party_code, skipped="no webhook_url")
        outcome = await self.pusher.push(msg, party)
        if outcome.delivered:
            await self._record(msg, PUSH_DELIVERED)
            return WebhookResult(message_id=msg.id, party_code=party.code, status_code=outcome.status_code)
        await self._record(msg, PUSH_FAILED if outcome.final else PUSH_RETRYING)
        kind = WEBHOOK_UNREACHABLE if outcome.error == "unreachable" else WEBHOOK_FAILED
        raise ApplicationError(f"webhook of {party.code}: {outcome.error}", type=kind,
                               non_retryable=outcome.final)


__all__ = ["Pusher", "PushOutcome", "WebhookActivities", "message_body"]
