"""The codec server: decrypts case payloads for the Temporal Web UI, for operators and auditors.

Temporal's remote codec protocol (what the Web UI 2.54 and the `temporal` CLI's
`--codec-endpoint` send):

    POST /decode   {"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}]}
    POST /encode   the same shape, the other way
    headers        Content-Type: application/json, X-Namespace: <namespace>
                   Authorization: Bearer <token>   only with "Pass the user access token" (the UI
                                                   sends its OIDC token, and only to https://)
    cookies        only with "Include cross-origin credentials" (fetch `credentials: 'include'`)

The UI calls it from the browser, cross-origin, with a CORS preflight (`X-Namespace` and the JSON
content type make the request non-simple). So this server

- answers only the UI's origins (`VANGNET_CODEC_UI_ORIGINS`, default the dev server's UI on
  VANGNET_UI_PORT): preflight and request alike; any other origin gets 403 and no CORS headers;
- answers only an authenticated operator or auditor: an API key of role operator/auditor
  (`python -m starter keys create operator`; only its hash is stored, vangnet/store/apikeys.py),
  either as `Authorization: Bearer <key>` (the CLI, scripts) or through a session: the operator
  opens `/login` on this server once, enters the key, and gets an HttpOnly, SameSite=Strict cookie
  that the UI sends along once "Include cross-origin credentials" is on (README). A revoked key
  stops working at its next request. Or, for a UI behind an identity provider that passes its
  users' access token, that token (a JWT checked against the provider's JWKS, issuer, audience,
  expiry; the role from a claim: VANGNET_CODEC_OIDC_*). Auditors may decode; only operators may
  encode;
- logs who decoded which case: the key's id and role, the namespace, and the workflow ids the
  payloads belong to (the codec writes them into each payload's metadata), never a payload.

Without a valid login the UI gets 401 and shows the payloads as they are stored: encrypted.

    python -m vangnet.codec_server        # VANGNET_CODEC_HOST / VANGNET_CODEC_PORT (127.0.0.1:8234)
"""

from __future__ import annotations

import html
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from vangnet import codec
from vangnet.settings import Settings, get_settings

log = structlog.get_logger("vangnet.codec_server")

COOKIE = "vangnet_codec"
ROLES = ("operator", "auditor")
ENCODE_ROLES = ("operator",)
MAX_BODY = 8 * 1024 * 1024  # bytes per request; Temporal's own payload limit is 2 MB
ALLOWED_HEADERS = ("content-type", "x-namespace", "authorization", "authorization-extras")
PREFLIGHT_MAX_AGE = "600"


@dataclass
class Principal:
    key_id: int | None  # the API key's id; None for an OIDC token
    role: str
    via: str  # "bearer", "session" or "oidc"
    subject: str | None = None  # the OIDC token's `sub` (an id at the identity provider)

    def who(self) -> dict[str, Any]:
        """Log fields: ids and codes only."""
        ids = {"key_id": self.key_id} if self.key_id is not None else {"subject": self.subject}
        return {**ids, "role": self.role, "via": self.via}


@dataclass
class Session:
    key: str  # the API key itself, in this process's memory only: re-checked on every request
    expires: float


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class OidcVerifier:
    """A Web UI's OIDC access token (sent with "Pass the user access token"): signed by a key of
    the identity provider's JWKS, for this audience, from this issuer, not expired; the role
    comes from a claim (VANGNET_CODEC_OIDC_*)."""

    ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]

    def __init__(self, settings: Settings) -> None:
        import jwt

        self.settings = settings
        self.jwks = jwt.PyJWKClient(settings.codec_oidc_jwks_url, cache_keys=True, lifespan=300,
                                    timeout=10)

    @staticmethod
    def configured(settings: Settings) -> bool:
        return bool(settings.codec_oidc_jwks_url and settings.codec_oidc_issuer
                    and settings.codec_oidc_audience)

    async def principal(self, token: str) -> Principal:
        import asyncio

        import jwt

        s = self.settings
        try:
            key = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(token, key.key, algorithms=self.ALGORITHMS,
                                audience=s.codec_oidc_audience, issuer=s.codec_oidc_issuer,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.PyJWTError as err:
            raise Refused(401, "invalid_token",
                          f"the access token could not be verified ({type(err).__name__})") from None
        roles = claims.get(s.codec_oidc_roles_claim) or []
        if isinstance(roles, str):
            roles = roles.split()
        if s.codec_oidc_operator_role in roles:
            role = "operator"
        elif s.codec_oidc_auditor_role in roles:
            role = "auditor"
        else:
            raise Refused(403, "forbidden", "only operators and auditors may decode case payloads")
        return Principal(key_id=None, role=role, via="oidc", subject=str(claims["sub"]))


class CodecService:
    """Keys, sessions and the API-key lookup, shared by the routes."""

    def __init__(self, keyring: codec.Keyring, store: Any, settings: Settings) -> None:
        self.keyring = keyring
        self.store = store
        self.settings = settings
        self.origins = frozenset(settings.ui_origins())
        self.session_seconds = settings.codec_session_hours * 3600
        self.sessions: dict[str, Session] = {}
        self.oidc = OidcVerifier(settings) if OidcVerifier.configured(settings) else None

    async def principal_for_key(self, key: str, via: str) -> Principal:
        from vangnet.store.apikeys import find_key

        row = await find_key(self.store.sessions, key) if key else None
        if row is None:
            raise Refused(401, "invalid_key", "unknown or revoked API key")
        if row.role not in ROLES:
            raise Refused(403, "forbidden", "only operators and auditors may decode case payloads")
        return Principal(key_id=row.id, role=row.role, via=via)

    async def authenticate(self, request: Request) -> Principal:
        auth = request.headers.get("authorization", "")
        if auth:
            scheme, _, token = auth.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Refused(401, "invalid_authorization", "expected Authorization: Bearer <API key>")
            if self.oidc is not None and token.count(".") == 2:  # a JWT, not an API key
                return await self.oidc.principal(token)
            return await self.principal_for_key(token, "bearer")
        cookie = request.cookies.get(COOKIE)
        session = self.sessions.get(cookie) if cookie else None
        if session is None or session.expires < time.time():
            if cookie:
                self.sessions.pop(cookie, None)
            raise Refused(401, "login_required",
                          "log in on this codec server's /login page (operator or auditor key)")
        try:
            return await self.principal_for_key(session.key, "session")
        except Refused:
            self.sessions.pop(cookie or "", None)  # the key was revoked since: the session ends
            raise

    def start_session(self, key: str) -> str:
        now = time.time()
        for token in [t for t, s in self.sessions.items() if s.expires < now]:
            del self.sessions[token]
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(key=key, expires=now + self.session_seconds)
        return token


def _cors(origin: str | None) -> dict[str, str]:
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin"}


def _error(status: int, code: str, message: str, origin: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=_cors(origin))


def create_app(keyring: codec.Keyring | None = None, *, store: Any = None,
               settings: Settings | None = None) -> FastAPI:
    """The codec server. Without `store`, the lifespan opens the case store of `settings`
    (DATABASE_URL); without `keyring`, the process's keys (VANGNET_CODEC_KEYS, ...)."""
    settings = settings or get_settings()
    state: dict[str, CodecService] = {}

    def start(db: Any) -> None:
        ring = keyring if keyring is not None else codec.process_keyring(read_only=True)
        state["svc"] = app.state.codec = CodecService(ring, db, settings)
        log.info("codec_server_started", origins=sorted(state["svc"].origins), keys=ring.ids,
                 oidc=state["svc"].oidc is not None, database=db.engine.url.get_backend_name())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        from vangnet.store import Store

        db = await Store.open(settings)
        try:
            start(db)
            yield
        finally:
            await db.close()

    app = FastAPI(title="vangnet codec server", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    if store is not None:  # the caller's store (tests): ready at once
        start(store)

    def svc() -> CodecService:
        return state["svc"]

    def allowed_origin(request: Request) -> tuple[bool, str | None]:
        """(allowed, origin): a browser's request must come from the UI; no Origin header is a
        non-browser client (the CLI, curl), which must then bring a Bearer key."""
        origin = request.headers.get("origin")
        if origin is None:
            return True, None
        return origin.rstrip("/") in svc().origins, origin

    @app.options("/decode")
    @app.options("/encode")
    async def preflight(request: Request) -> Response:
        ok, origin = allowed_origin(request)
        if not ok or origin is None:
            log.warning("codec_refused", route=request.url.path, status=403, code="origin",
                        origin=origin)
            return Response(status_code=403)
        asked = [h.strip().lower() for h in
                 request.headers.get("access-control-request-headers", "").split(",") if h.strip()]
        headers = {
            **_cors(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": ", ".join(h for h in asked if h in ALLOWED_HEADERS)
            or "content-type",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
        if request.headers.get("access-control-request-private-network") == "true":
            headers["Access-Control-Allow-Private-Network"] = "true"
        return Response(status_code=204, headers=headers)

    async def convert(request: Request, direction: str) -> Response:
        ok, origin = allowed_origin(request)
        route = f"/{direction}"
        if not ok:
            log.warning("codec_refused", route=route, status=403, code="origin", origin=origin)
            return _error(403, "origin", "this origin may not use the codec server")
        namespace = request.headers.get("x-namespace", "")
        try:
            principal = await svc().authenticate(request)
            if direction == "encode" and principal.role not in ENCODE_ROLES:
                raise Refused(403, "forbidden", "only operators may encode payloads")
        except Refused as err:
            log.warning("codec_refused", route=route, status=err.status, code=err.code,
                        origin=origin, namespace=namespace)
            return _error(err.status, err.code, err.message, origin)
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "too_large", f"at most {MAX_BODY} bytes per request", origin)
        try:
            payloads = json_format.Parse(body or b"{}", Payloads(), ignore_unknown_fields=True)
        except json_format.ParseError as err:
            return _error(400, "invalid_payloads",
                          f"expected {{\"payloads\": [...]}} in Temporal's JSON form: {err}", origin)
        ring = svc().keyring
        out: list[Any] = []
        cases: set[str] = set()
        unreadable = 0
        for payload in payloads.payloads:
            if direction == "encode":
                out.append(ring.encrypt(payload))
                continue
            if codec.is_encrypted(payload) and (wid := codec.workflow_id_of(payload)):
                cases.add(wid)
            try:
                out.append(ring.decrypt(payload))
            except codec.CodecKeyError:
                unreadable += 1  # shown as stored (encrypted); the rest of the page still decodes
                out.append(payload)
        log.info(f"codec_{direction}d", **principal.who(), namespace=namespace,
                 cases=sorted(cases), payloads=len(out), unreadable=unreadable)
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=out)), headers=_cors(origin))

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        return await convert(request, "decode")

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return await convert(request, "encode")

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> HTMLResponse:
        who = None
        try:
            if request.cookies.get(COOKIE):
                who = await svc().authenticate(request)
        except Refused:
            who = None
        return HTMLResponse(_page(settings, who, None, str(request.base_url).rstrip("/")))

    @app.post("/login")
    async def login(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != base:
            log.warning("codec_login_refused", code="origin", origin=origin)
            return HTMLResponse(_page(settings, None, "Inloggen kan alleen via deze pagina.", base),
                                status_code=403)
        form = await _form(request)
        key = form.get("key", "").strip()
        try:
            principal = await svc().principal_for_key(key, "session")
        except Refused as err:
            log.warning("codec_login_refused", code=err.code)
            message = ("Onbekende of ingetrokken sleutel." if err.status == 401 else
                       "Alleen sleutels van een operator of auditor mogen payloads ontsleutelen.")
            return HTMLResponse(_page(settings, None, message, base), status_code=err.status)
        token = svc().start_session(key)
        log.info("codec_login", key_id=principal.key_id, role=principal.role)
        response = RedirectResponse("/login", status_code=303)
        response.set_cookie(COOKIE, token, max_age=int(svc().session_seconds), httponly=True,
                            samesite="strict", secure=request.url.scheme == "https", path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            svc().sessions.pop(token, None)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    return app


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the login page's), without python-multipart."""
    from urllib.parse import parse_qs

    raw = (await request.body())[:4096].decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(raw).items()}


def _page(settings: Settings, who: Principal | None, error: str | None, base: str) -> str:
    """The login page, in Dutch (operators and auditors read it)."""
    origins = ", ".join(settings.ui_origins())
    if who is not None:
        body = (
            f"<p class=ok>Ingelogd als <b>{html.escape(who.role)}</b> (sleutel {who.key_id}).</p>"
            "<p>De Temporal Web UI toont de casussen nu ontsleuteld, als daar bij <i>Codec Server</i> "
            "(onderaan het menu) staat: <i>Use my browser setting and ignore Cluster-level setting</i>, "
            f"endpoint <code>{html.escape(base)}</code> en <i>Include cross-origin credentials</i> aan. "
            "Laad daarna de pagina van de casus opnieuw.</p>"
            "<form method=post action=/logout><button type=submit>Uitloggen</button></form>"
        )
    else:
        body = (
            (f"<p class=err>{html.escape(error)}</p>" if error else "")
            + "<form method=post action=/login>"
            "<label for=key>API-sleutel van een operator of auditor</label>"
            "<input id=key name=key type=password autocomplete=off required>"
            "<button type=submit>Inloggen</button></form>"
            "<p>Een sleutel maken: <code>python -m starter keys create operator</code>.</p>"
        )
    return (
        "<!doctype html><html lang=nl><head><meta charset=utf-8>"
        "<title>vangnet codec-server</title><style>body{font-family:sans-serif;max-width:42em;"
        "margin:3em auto}input{display:block;width:100%;margin:.5em 0 1em}.err{color:#b00}"
        ".ok{color:#060}</style></head><body><h1>vangnet: payloads ontsleutelen</h1>"
        f"{body}<p><small>Web UI: {html.escape(origins)}. Wie welke casus ontsleutelt, wordt "
        "gelogd.</small></p></body></html>"
    )


def main() -> int:
    import uvicorn

    from vangnet.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        keyring = codec.process_keyring(read_only=True)
    except codec.CodecConfigError as err:
        print(f"vangnet codec server: {err}", file=sys.stderr)
        return 1
    print(f"codec server: http://{settings.codec_host}:{settings.codec_port}  "
          f"(login: /login; UI origins: {', '.join(settings.ui_origins())})", flush=True)
    try:
        uvicorn.run(create_app(keyring, settings=settings), host=settings.codec_host,
                    port=settings.codec_port, log_config=None, server_header=False,
                    proxy_headers=False, access_log=False)
    except OSError as err:
        print(f"vangnet codec server: cannot listen on {settings.codec_host}:"
              f"{settings.codec_port}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
