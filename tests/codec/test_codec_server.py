"""The codec server (vangnet/codec_server.py) over HTTP, as the Web UI and the CLI call it: the
remote codec protocol, CORS for the UI's origin only, operators and auditors only, the log."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest_asyncio
from google.protobuf import json_format
from structlog.testing import capture_logs
from temporalio.api.common.v1 import Payload, Payloads

from vangnet import codec
from vangnet.codec_server import COOKIE, MAX_BODY, create_app
from vangnet.settings import Settings
from vangnet.store.apikeys import create_key, revoke_key

UI = "http://localhost:8233"
BASE = "http://localhost:8234"
KEYS = codec.Keyring((("k1", codec.new_key()), ("k2", codec.new_key())))


class Server:
    def __init__(self, http: httpx.AsyncClient, store) -> None:
        self.http = http
        self.store = store

    async def key(self, role: str, party: str | None = None) -> tuple[str, int]:
        key, row = await create_key(self.store.sessions, party, role)
        return key, row.id

    async def decode(self, payloads: list[Payload], *, origin: str | None = UI, **headers: str) -> httpx.Response:
        return await self.post("/decode", payloads, origin=origin, **headers)

    async def post(self, path: str, payloads: list[Payload], *, origin: str | None = UI,
                   **headers: str) -> httpx.Response:
        body = json_format.MessageToJson(Payloads(payloads=payloads))
        hdrs = {"Content-Type": "application/json", "X-Namespace": "default", **headers}
        if origin:
            hdrs["Origin"] = origin
        return await self.http.post(path, content=body, headers=hdrs)

    async def login(self, key: str) -> httpx.Response:
        return await self.http.post("/login", data={"key": key}, headers={"Origin": BASE})


def payloads_of(response: httpx.Response) -> list[Payload]:
    return list(json_format.ParseDict(response.json(), Payloads()).payloads)


def sealed(text: str, case: str = "case-woonbron-T1") -> Payload:
    return KEYS.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()), case)


@pytest_asyncio.fixture
async def server(store) -> AsyncIterator[Server]:
    settings = Settings(VANGNET_CODEC_UI_ORIGINS=f"{UI},http://127.0.0.1:8233")
    app = create_app(KEYS, store=store, settings=settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield Server(http, store)


async def test_the_ui_preflight_is_answered_for_the_ui_origin_only(server):
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type,x-namespace"}
    r = await server.http.options("/decode", headers={"Origin": UI, **ask})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["access-control-allow-methods"] == "POST"
    assert r.headers["access-control-allow-headers"] == "content-type, x-namespace"
    assert "Origin" in r.headers["vary"]
    r = await server.http.options("/decode", headers={"Origin": "http://evil.example", **ask})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = await server.http.options("/encode", headers={"Origin": "http://127.0.0.1:8233", **ask})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"


async def test_nothing_is_decoded_without_a_valid_operator_or_auditor_key(server):
    payload = sealed('{"reason": "x"}')
    r = await server.decode([payload])
    assert r.status_code == 401 and r.json()["error"]["code"] == "login_required"
    assert r.headers["access-control-allow-origin"] == UI  # so the UI can read the refusal
    r = await server.decode([payload], origin="http://evil.example", Authorization="Bearer x")
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = await server.decode([payload], Authorization="Bearer vn_not-a-key")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_key"
    r = await server.decode([payload], Authorization="Basic abc")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_authorization"
    party, _ = await server.key("party", "woonbron")
    r = await server.decode([payload], Authorization=f"Bearer {party}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await server.decode([payload], origin=None, Cookie=f"{COOKIE}=forged")
    assert r.status_code == 401


async def test_an_auditor_decodes_with_a_bearer_key_and_the_log_says_who_and_which_case(server):
    key, key_id = await server.key("auditor")
    other_case = sealed('{"b": 2}', "case-poort6-T2")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"old": true}')
    unknown = codec.Keyring((("k9", codec.new_key()),)).encrypt(plain, "case-woonbron-T1")
    with capture_logs() as logs:
        r = await server.decode([sealed('{"reason": "Kerkstraat 1"}'), other_case, plain, unknown],
                                origin=None, Authorization=f"Bearer {key}")
    assert r.status_code == 200, r.text
    out = payloads_of(r)
    assert [p.data for p in out[:3]] == [b'{"reason": "Kerkstraat 1"}', b'{"b": 2}', b'{"old": true}']
    assert out[3] == unknown  # a key this server lacks: shown as stored, the rest still decodes
    [entry] = [e for e in logs if e["event"] == "codec_decoded"]
    assert entry == {"event": "codec_decoded", "log_level": "info", "key_id": key_id,
                     "role": "auditor", "via": "bearer", "namespace": "default",
                     "cases": ["case-poort6-T2", "case-woonbron-T1"], "payloads": 4, "unreadable": 1}
    assert "Kerkstraat" not in repr(logs) and key not in repr(logs)


async def test_an_operator_logs_in_once_and_the_ui_decodes_with_the_session_cookie(server):
    key, key_id = await server.key("operator")
    r = await server.login(key)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/" in cookie and "Max-Age=28800" in cookie
    assert key not in cookie
    page = await server.http.get("/login")
    assert "Ingelogd als <b>operator</b>" in page.text and f"sleutel {key_id}" in page.text
    r = await server.decode([sealed('{"a": 1}')])
    assert r.status_code == 200 and payloads_of(r)[0].data == b'{"a": 1}'
    assert r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-credentials"] == "true"

    # revoked: the session ends at its next request
    await revoke_key(server.store.sessions, key_id)
    r = await server.decode([sealed('{"a": 1}')])
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_key"
    r = await server.decode([sealed('{"a": 1}')])
    assert r.status_code == 401 and r.json()["error"]["code"] == "login_required"


async def test_a_session_expires_and_logging_out_ends_it(server):
    key, _ = await server.key("auditor")
    await server.login(key)
    assert (await server.decode([sealed("1")])).status_code == 200
    r = await server.http.post("/logout")
    assert r.status_code == 303 and f'{COOKIE}=""' in r.headers["set-cookie"]
    assert (await server.decode([sealed("1")])).status_code == 401
    await server.login(key)
    service = server.http._transport.app.state.codec
    for session in service.sessions.values():
        session.expires = time.time() - 1
    assert (await server.decode([sealed("1")])).status_code == 401
    assert service.sessions == {}


async def test_a_party_key_or_a_foreign_origin_cannot_log_in(server):
    party, _ = await server.key("party", "mpzo")
    r = await server.login(party)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    assert "Alleen sleutels van een operator of auditor" in r.text
    r = await server.login("vn_wrong")
    assert r.status_code == 401 and "Onbekende of ingetrokken sleutel" in r.text
    operator, _ = await server.key("operator")
    r = await server.http.post("/login", data={"key": operator}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "set-cookie" not in r.headers


async def test_only_an_operator_encodes(server):
    auditor, _ = await server.key("auditor")
    operator, _ = await server.key("operator")
    value = Payload(metadata={"encoding": b"json/plain"}, data=b'{"event_id": "x"}')
    r = await server.post("/encode", [value], Authorization=f"Bearer {auditor}")
    assert r.status_code == 403
    r = await server.post("/encode", [value], Authorization=f"Bearer {operator}")
    assert r.status_code == 200
    [encoded] = payloads_of(r)
    assert codec.key_id_of(encoded) == "k2" and KEYS.decrypt(encoded) == value


async def test_a_malformed_or_oversized_body_is_refused_clearly(server):
    key, _ = await server.key("auditor")
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    r = await server.http.post("/decode", content=b'{"payloads": 3}', headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_payloads"
    r = await server.http.post("/decode", content=b"[not json", headers=auth)
    assert r.status_code == 400
    big = base64.b64encode(b"x" * (MAX_BODY)).decode()
    r = await server.http.post("/decode", content=f'{{"payloads": [{{"data": "{big}"}}]}}', headers=auth)
    assert r.status_code == 413
    r = await server.http.post("/decode", content=b"", headers=auth)
    assert r.status_code == 200 and r.json() == {}


# ---- a Web UI behind an identity provider: its users' OIDC access tokens ----------------------

ISSUER = "https://idp.example/realms/vangnet"
AUDIENCE = "vangnet-codec"


@pytest_asyncio.fixture
async def idp():
    """An identity provider's JWKS on a real local HTTP server, and a way to sign tokens."""
    import asyncio
    import json as _json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "idp-1",
           "use": "sig", "alg": "RS256"}
    body = _json.dumps({"keys": [jwk]}).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def token(*, roles=("vangnet-operator",), aud=AUDIENCE, iss=ISSUER, exp_in=300, signer=key,
              kid="idp-1", sub="user-4711"):
        now = int(time.time())
        claims = {"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + exp_in,
                  "groups": list(roles)}
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": kid})

    async with server:
        yield SimpleNamespace(jwks_url=f"http://127.0.0.1:{port}/jwks", token=token,
                              other_key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest_asyncio.fixture
async def oidc_server(store, idp) -> AsyncIterator[Server]:
    settings = Settings(VANGNET_CODEC_UI_ORIGINS=UI, VANGNET_CODEC_OIDC_JWKS_URL=idp.jwks_url,
                        VANGNET_CODEC_OIDC_ISSUER=ISSUER, VANGNET_CODEC_OIDC_AUDIENCE=AUDIENCE)
    app = create_app(KEYS, store=store, settings=settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield Server(http, store)


async def test_a_ui_users_oidc_token_decodes_for_operators_and_auditors_only(oidc_server, idp):
    server = oidc_server
    with capture_logs() as logs:
        r = await server.decode([sealed('{"a": 1}')], Authorization=f"Bearer {idp.token()}")
    assert r.status_code == 200, r.text
    assert payloads_of(r)[0].data == b'{"a": 1}'
    [entry] = [e for e in logs if e["event"] == "codec_decoded"]
    assert (entry["subject"], entry["role"], entry["via"]) == ("user-4711", "operator", "oidc")
    assert "key_id" not in entry

    auditor = idp.token(roles=("vangnet-auditor",), sub="user-12")
    assert (await server.decode([sealed("1")], Authorization=f"Bearer {auditor}")).status_code == 200
    r = await server.post("/encode", [sealed("1")], Authorization=f"Bearer {auditor}")
    assert r.status_code == 403
    r = await server.decode([sealed("1")], Authorization=f"Bearer {idp.token(roles=('staff',))}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    # API keys keep working beside the tokens
    key, _ = await server.key("auditor")
    assert (await server.decode([sealed("1")], Authorization=f"Bearer {key}")).status_code == 200


async def test_an_oidc_token_that_does_not_verify_is_refused(oidc_server, idp):
    bad = {
        "wrong audience": idp.token(aud="another-app"),
        "wrong issuer": idp.token(iss="https://evil.example"),
        "expired": idp.token(exp_in=-60),
        "another key under the same kid": idp.token(signer=idp.other_key),
        "an unknown kid": idp.token(signer=idp.other_key, kid="idp-9"),
    }
    for what, token in bad.items():
        r = await oidc_server.decode([sealed("1")], Authorization=f"Bearer {token}")
        assert r.status_code == 401, what
        assert r.json()["error"]["code"] == "invalid_token", what


async def test_without_oidc_settings_a_token_is_just_an_unknown_key(server, idp):
    r = await server.decode([sealed("1")], Authorization=f"Bearer {idp.token()}")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_key"
