"""Webhook pushes (issue 10): Standard Webhooks signing, secrets outside the registry file and the
case store, and the rules a webhook URL must meet.

Signing (https://www.standardwebhooks.com, the `standardwebhooks` package): each push carries
`webhook-id` (the inbox message id), `webhook-timestamp` (Unix seconds at sending) and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`). While a secret is being
rotated a party has two: the push is signed with both (two space-separated signatures), so a
receiver that knows either one verifies it.

Secrets (`whsec_…`, base64; `python -m starter webhooks secret` makes one): where a party's are is
said by `webhook_secret_ref` in the registry, never the secrets themselves:
- `env:NAME` — the environment variable NAME holds one or two secrets (space or comma separated);
- `file:PATH` — the file holds one secret per line (the first signs as the current one);
- no ref — the variable `VANGNET_WEBHOOK_SECRET_<CODE>` (code upper-cased, `-` as `_`).

URLs: https only; plain http only to a loopback address when VANGNET_WEBHOOK_ALLOW_HTTP_LOOPBACK is
set (development). A host that resolves to a loopback, private, link-local, reserved or multicast
address is refused unless the address is in VANGNET_WEBHOOK_ALLOW_NETWORKS (CIDRs, comma
separated). Redirects are never followed, and the push connects to the very address that was
checked (no DNS rebinding between the check and the connection).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import secrets as _secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from standardwebhooks import Webhook

ENV_PREFIX = "VANGNET_WEBHOOK_SECRET_"
MAX_SECRETS = 2  # the current one and, while rotating, the previous one


class WebhookConfigError(ValueError):
    """A party's webhook cannot be used as configured (a code says why; no secret in the text)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- secrets ------------------------------------------------------------------------------------

def default_secret_env(party_code: str) -> str:
    return ENV_PREFIX + party_code.upper().replace("-", "_")


def new_secret() -> str:
    """A fresh secret in the Standard Webhooks form (24 random bytes)."""
    return "whsec_" + base64.b64encode(_secrets.token_bytes(24)).decode()


def check_secret_ref(ref: str) -> str:
    """A registry `webhook_secret_ref` must name a place, not hold a secret."""
    kind, _, where = ref.partition(":")
    if kind not in ("env", "file") or not where.strip():
        raise ValueError("webhook_secret_ref must be 'env:NAME' or 'file:PATH' (the secret itself "
                         "never goes in the registry)")
    return ref


def resolve_secrets(party_code: str, ref: str | None, *, environ: Mapping[str, str] | None = None
                    ) -> list[str]:
    """The party's webhook secrets, current first (one or two). Raises WebhookConfigError."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    ref = ref or f"env:{default_secret_env(party_code)}"
    kind, _, where = ref.partition(":")
    if kind == "env":
        raw = env.get(where, "").replace(",", " ").split()
    elif kind == "file":
        try:
            raw = [line.strip() for line in Path(where).read_text(encoding="utf-8").splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
        except OSError:
            raise WebhookConfigError("secret_unreadable",
                                     f"the webhook secrets file of {party_code} cannot be read") from None
    else:
        raise WebhookConfigError("secret_ref_invalid", f"{party_code}: bad webhook_secret_ref")
    if not raw:
        raise WebhookConfigError("secret_missing", f"no webhook secret for {party_code} ({kind})")
    found = raw[:MAX_SECRETS]
    for s in found:
        try:
            raw_key = s.removeprefix("whsec_")
            if len(base64.b64decode(raw_key + "=" * (-len(raw_key) % 4), validate=True)) < 16:
                raise ValueError("short")
        except Exception:  # noqa: BLE001 - never echo the value
            raise WebhookConfigError("secret_invalid",
                                     f"a webhook secret of {party_code} is not base64 of 16 bytes or more (whsec_…)") from None
    return found


# -- signing ------------------------------------------------------------------------------------

def sign_headers(secrets: Iterable[str], message_id: str, body: bytes,
                 at: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every given secret."""
    at = at or datetime.now(UTC)
    text = body.decode("utf-8")
    signatures = " ".join(Webhook(s).sign(message_id, at, text) for s in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


# -- URLs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UrlPolicy:
    allow_http_loopback: bool = False
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> UrlPolicy:  # noqa: ANN001
        nets = tuple(ipaddress.ip_network(n.strip(), strict=False)
                     for n in settings.webhook_allow_networks.split(",") if n.strip())
        return cls(settings.webhook_allow_http_loopback, nets)

    def _allowed(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip in net for net in self.allow_networks)

    def check_syntax(self, url: str) -> tuple[str, str]:
        """Scheme and host rules that need no lookup; returns (scheme, host)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise WebhookConfigError("url_refused", "a webhook URL must be https://host/…")
        if parts.username or parts.password:
            raise WebhookConfigError("url_refused", "a webhook URL may not carry credentials")
        if parts.scheme == "http":
            if not (self.allow_http_loopback and _is_loopback_name(host)):
                raise WebhookConfigError("url_refused", "a webhook URL must use https (plain http "
                                         "only to loopback, with VANGNET_WEBHOOK_ALLOW_HTTP_LOOPBACK)")
        return parts.scheme, host

    def check_addresses(self, addresses: Iterable[str]) -> None:
        for a in addresses:
            ip = ipaddress.ip_address(a.split("%")[0])
            if _is_internal(ip) and not self._allowed(ip):
                raise WebhookConfigError("address_refused", "the webhook host resolves to a "
                                         "private, loopback or link-local address that is not allow-listed")

    async def check(self, url: str) -> list[str]:
        """Every rule, the host's addresses included (resolved now); returns those addresses, for
        the push to connect to exactly what was checked. Raises WebhookConfigError."""
        _scheme, host = self.check_syntax(url)
        try:
            addresses = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError:
                raise WebhookConfigError("dns_failed", "the webhook host does not resolve") from None
            addresses = sorted({str(info[4][0]) for info in infos})
        self.check_addresses(addresses)
        return addresses


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL with the host replaced by the checked address, the Host header, httpx extensions):
    the push connects to the address the rules were checked against, so a DNS answer that
    changes between the check and the connection (rebinding) cannot redirect it; TLS still
    verifies the certificate against the original host name (SNI)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    ip = ipaddress.ip_address(address.split("%")[0])
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host_header = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"Host": host_header}, extensions


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


__all__ = ["ENV_PREFIX", "UrlPolicy", "pinned", "WebhookConfigError", "check_secret_ref", "default_secret_env",
           "new_secret", "resolve_secrets", "sign_headers"]
