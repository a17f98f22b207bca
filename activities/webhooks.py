"""Activity `deliver_webhook`: POST one inbox message to its party's webhook (RULES §5).

A party with `webhook_url` (and `webhook_secret`) in the registry gets every inbox message also as
an HTTP POST. The workflow runs this activity once per such message (the action activity lists
them in `DeliveryResult.webhook_message_ids`); Temporal retries it with backoff.

The request:

    POST <webhook_url>
    Content-Type: application/json
    X-Vangnet-Signature: sha256=<hex HMAC-SHA256 of the raw body, key = the party's webhook_secret>
    Idempotency-Key: <the message's idempotency key>
    X-Vangnet-Message-Id: <the message's id>

    {"message_id", "party", "case_id", "action", "idempotency_key", "created_at", "payload"}

A 2xx answer is success. 408, 425, 429 and 5xx answers and network errors are retried; any
other 4xx is final (a receiver that refuses the message will not change its mind). A retry sends
the same body and the same Idempotency-Key, so a receiver that keeps the keys it has handled
never handles a message twice, whatever happened to an earlier answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import DELIVER_WEBHOOK
from vangnet import metrics
from vangnet.domain import WebhookRequest, WebhookResult
from vangnet.logging import register_secret
from vangnet.store import Store
from vangnet.store.inbox import PUSH_DELIVERED, PUSH_FAILED, PUSH_RETRYING, PUSH_SKIPPED, record_push
from vangnet.store.models import InboxMessage, Party

log = structlog.get_logger("vangnet.activities")

SIGNATURE_HEADER = "X-Vangnet-Signature"
RETRYABLE_4XX = frozenset({408, 425, 429})
WEBHOOK_FAILED = "WebhookRefused"
WEBHOOK_UNREACHABLE = "WebhookUnreachable"
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def sign(secret: str, body: bytes) -> str:
    """The `X-Vangnet-Signature` header value for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers (and tests): does the header sign this body with this secret?"""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


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


class WebhookActivities:
    def __init__(self, store: Store, http: httpx.AsyncClient | None = None) -> None:
        self.store = store
        self._http = http

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP connections (when the worker stops)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

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
        if not party.webhook_secret:
            raise ApplicationError(f"party {party.code} has a webhook_url but no webhook_secret",
                                   type=WEBHOOK_FAILED, non_retryable=True)
        register_secret(party.webhook_secret)  # never in a log line (RULES §12 I5)
        body = message_body(msg)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(party.webhook_secret, body),
            "Idempotency-Key": msg.idempotency_key,
            "X-Vangnet-Message-Id": str(msg.id),
            "User-Agent": "vangnet-webhooks/1",
        }
        attempt = activity.info().attempt if activity.in_activity() else None
        try:
            response = await self.http().post(party.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as err:
            log.warning("webhook_unreachable", message_id=msg.id, party=party.code, attempt=attempt,
                        error=type(err).__name__)
            await self._record(msg, PUSH_RETRYING)
            raise ApplicationError(f"webhook of {party.code} unreachable ({type(err).__name__})",
                                   type=WEBHOOK_UNREACHABLE) from None
        status = response.status_code
        fields = dict(message_id=msg.id, party=party.code, case_id=msg.case_id, action=msg.action,
                      status=status, attempt=attempt)
        if 200 <= status < 300:
            log.info("webhook_delivered", **fields)
            await self._record(msg, PUSH_DELIVERED)
            return WebhookResult(message_id=msg.id, party_code=party.code, status_code=status)
        retry = status >= 500 or status in RETRYABLE_4XX
        log.warning("webhook_refused", retry=retry, **fields)
        await self._record(msg, PUSH_RETRYING if retry else PUSH_FAILED)
        raise ApplicationError(f"webhook of {party.code} answered {status}", type=WEBHOOK_FAILED,
                               non_retryable=not retry)


__all__ = ["SIGNATURE_HEADER", "sign", "verify", "message_body", "WebhookActivities"]
