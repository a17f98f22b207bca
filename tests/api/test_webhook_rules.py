"""Issue 10: where a webhook may point, and where its secrets may (and may not) be."""

from __future__ import annotations

import pytest

from vangnet.store.registry import PartyEntry
from vangnet.webhooks import UrlPolicy, WebhookConfigError, new_secret, pinned, resolve_secrets

STRICT = UrlPolicy()
DEV = UrlPolicy.from_settings(type("S", (), {"webhook_allow_http_loopback": True,
                                             "webhook_allow_networks": "127.0.0.0/8"})())


@pytest.mark.parametrize("url,code", [
    ("http://169.254.169.254/latest/meta-data", "url_refused"),  # http, and not loopback
    ("http://localhost:5432/", "url_refused"),  # http to loopback, not allowed here
    ("https://169.254.169.254/", "address_refused"),  # link-local (cloud metadata)
    ("https://127.0.0.1:5432/", "address_refused"),  # loopback
    ("https://10.1.2.3/hook", "address_refused"),  # private
    ("https://[::1]/hook", "address_refused"),
    ("https://[::ffff:192.168.1.1]/hook", "address_refused"),  # v4-mapped private
    ("https://0.0.0.0/hook", "address_refused"),
    ("https://localhost/hook", "address_refused"),  # resolves to loopback
    ("ftp://example.org/", "url_refused"),
    ("https://user:pw@example.org/", "url_refused"),
])
async def test_refused_urls(url, code):
    with pytest.raises(WebhookConfigError) as err:
        await STRICT.check(url)
    assert err.value.code == code


async def test_public_https_passes_and_dev_allowances_are_explicit():
    STRICT.check_addresses(["93.184.215.14"])
    STRICT.check_syntax("https://receiver.example.org/hook")
    await DEV.check("http://127.0.0.1:8080/hook")  # development: both allowances set
    with pytest.raises(WebhookConfigError):
        await DEV.check("http://10.0.0.5/hook")  # http only to loopback, even in development
    with pytest.raises(WebhookConfigError):
        await DEV.check("https://192.168.0.10/hook")  # not in the allow-list


def test_secrets_come_from_the_environment_or_a_file(tmp_path):
    a, b = new_secret(), new_secret()
    assert resolve_secrets("tablis-wonen", None, environ={"VANGNET_WEBHOOK_SECRET_TABLIS_WONEN": f"{a}, {b}"}) == [a, b]
    assert resolve_secrets("x", "env:MY_VAR", environ={"MY_VAR": a}) == [a]
    f = tmp_path / "secrets"
    f.write_text(f"# current first\n{b}\n{a}\n")
    assert resolve_secrets("x", f"file:{f}", environ={}) == [b, a]
    for ref, env, code in [(None, {}, "secret_missing"), ("file:/nonexistent", {}, "secret_unreadable"),
                           ("env:V", {"V": "not base64 !!"}, "secret_invalid")]:
        with pytest.raises(WebhookConfigError) as err:
            resolve_secrets("x", ref, environ=env)
        assert err.value.code == code


def test_the_registry_refuses_a_secret_and_bad_urls():
    base = {"code": "woonbron", "kind": "corporation", "name": "Woonbron"}
    with pytest.raises(ValueError, match="does not belong in the registry"):
        PartyEntry.model_validate(base | {"webhook_url": "https://x.example/h", "webhook_secret": "s"})
    with pytest.raises(ValueError, match="env:NAME"):
        PartyEntry.model_validate(base | {"webhook_secret_ref": "whsec_abcdefgh"})
    with pytest.raises(ValueError, match="https"):
        PartyEntry.model_validate(base | {"webhook_url": "http://169.254.169.254/"})
    entry = PartyEntry.model_validate(base | {"webhook_url": "https://x.example/h",
                                              "webhook_secret_ref": "file:/run/secrets/woonbron"})
    assert entry.webhook_secret_ref == "file:/run/secrets/woonbron"


def test_the_push_connects_to_the_checked_address():
    url, host, ext = pinned("https://hooks.example.org:8443/v/1?x=2", "93.184.215.14")
    assert (url, host, ext) == ("https://93.184.215.14:8443/v/1?x=2", {"Host": "hooks.example.org:8443"},
                                {"sni_hostname": "hooks.example.org"})
    url, host, ext = pinned("http://localhost/h", "::1")
    assert (url, host, ext) == ("http://[::1]/h", {"Host": "localhost"}, {})
