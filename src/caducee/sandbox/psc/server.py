"""The PSC sandbox over HTTPS: the real PSC paths (Keycloak realm `esante-wallet`, the wallet's front-end).

    {issuer}/.well-known/wallet-openid-configuration         metadata (the name PSC uses, notes/psc §1.1)
    {issuer}/protocol/openid-connect/token                   POST, client_secret_basic or client_secret_post
    {issuer}/protocol/openid-connect/userinfo                GET|POST, Bearer; JSON or application/jwt
    {issuer}/protocol/openid-connect/logout                  GET|POST end_session (id_token_hint)
    {issuer}/protocol/openid-connect/token/introspect        POST, client authentication
    {issuer}/protocol/openid-connect/certs                   JWKS
    /wallet/auth                                             GET the e-CPS approval page, POST its form
with issuer = https://<host>:<port>/auth/realms/esante-wallet. Errors are OAuth2 JSON {error, error_description};
`down = True` makes every path answer 503. TLS ≥ 1.2 with the sandbox's server certificate; no client
certificate is needed (one offered must chain to the sandbox CA).
"""

from __future__ import annotations

import html
import http.client
import json
import logging
import re
import ssl
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from caducee.sandbox.psc import pages
from caducee.sandbox.psc.directory import Directory, default_professionals
from caducee.sandbox.psc.keys import KeyRing, TokenInvalid
from caducee.sandbox.psc.provider import REALM, OAuthError, PageError, Provider, UnknownProfessional
from caducee.sandbox.tls import MutualTlsServer, SandboxRequestHandler

logger = logging.getLogger("caducee.sandbox.psc")

REALM_PATH = f"/auth/realms/{REALM}"
METADATA_PATH = "/.well-known/wallet-openid-configuration"
WALLET_PATH = "/wallet/auth"
CSS_PATH = "/wallet/wallet.css"
MAX_BODY = 64 * 1024
USERINFO_FORMATS = ("json", "jwt")
_PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"


def psc_ssl_context(*, ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    context.load_verify_locations(cafile=str(ca))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


class PscServer(MutualTlsServer):
    label = "Bac à sable Pro Santé Connect"

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        super().__init__(address, PscHandler, context)
        self.provider: Provider | None = None
        self.down = False


class PscHandler(SandboxRequestHandler):
    server: PscServer
    server_version = "CaduceeSandboxPSC/1.0"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    @property
    def provider(self) -> Provider:
        assert self.server.provider is not None
        return self.server.provider

    # -- answers --------------------------------------------------------------------------------------------

    def _json(self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **(extra or {})}
        self._send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json", headers)

    def _oauth_error(self, exc: OAuthError) -> None:
        extra = {"WWW-Authenticate": f'Basic realm="{REALM}"'} if exc.status == 401 else None
        self._json(exc.status, {"error": exc.error, "error_description": exc.description}, extra)

    def _html(self, status: int, body: bytes) -> None:
        headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": _PAGE_CSP,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        self._send(status, body, "text/html; charset=utf-8", headers)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/plain", {"Location": location, "Cache-Control": "no-store"})

    @property
    def _css_url(self) -> str:
        return CSS_PATH

    # -- dispatch -------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        self._dispatch(split.path, dict(parse_qsl(split.query, keep_blank_values=True)), post=False)

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._json(413, {"error": "invalid_request", "error_description": "requête trop volumineuse"})
            return
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        # A POST's parameters are its form body only: credentials and tokens never come from the URL.
        self._dispatch(split.path, dict(parse_qsl(body, keep_blank_values=True)), post=True)

    def _dispatch(self, path: str, params: dict[str, str], *, post: bool) -> None:
        if self.server.down:
            self.provider.record("down", "503", path=path)
            if path.startswith("/wallet/"):
                self._html(503, pages.unavailable_page(self._css_url))
            else:
                self._json(503, {"error": "temporarily_unavailable", "error_description": "service indisponible"})
            return
        oidc = f"{REALM_PATH}/protocol/openid-connect"
        routes = {
            f"{REALM_PATH}{METADATA_PATH}": self._metadata,
            f"{REALM_PATH}/.well-known/openid-configuration": self._metadata,
            f"{oidc}/token": self._token,
            f"{oidc}/userinfo": self._userinfo,
            f"{oidc}/logout": self._logout,
            f"{oidc}/token/introspect": self._introspect,
            f"{oidc}/certs": self._certs,
            WALLET_PATH: self._wallet,
            CSS_PATH: self._css,
        }
        route = routes.get(path.rstrip("/") or "/")
        if route is None:
            self._json(404, {"error": "not_found", "error_description": f"chemin inconnu : {path[:200]}"})
            return
        try:
            route(params, post)
        except OAuthError as exc:
            self._oauth_error(exc)
        except PageError as exc:
            self._html(400, pages.error_page(exc.message, self._css_url))

    def _only_post(self, post: bool) -> None:
        if not post:
            raise OAuthError("invalid_request", "POST attendu", 405)

    # -- endpoints ------------------------------------------------------------------------------------------

    def _metadata(self, params: dict[str, str], post: bool) -> None:
        self._json(200, self.provider.metadata())

    def _certs(self, params: dict[str, str], post: bool) -> None:
        self._json(200, self.provider.keys.jwks())

    def _css(self, params: dict[str, str], post: bool) -> None:
        self._send(200, pages.CSS.encode("utf-8"), "text/css; charset=utf-8", {"Cache-Control": "max-age=300"})

    def _token(self, params: dict[str, str], post: bool) -> None:
        self._only_post(post)
        self._json(
            200,
            self.provider.token(self.headers.get("Authorization", ""), params, tls_client=self._tls_client()),
        )

    def _tls_client(self) -> bool:
        """A client certificate was presented and verified against the sandbox CA (tls_client_auth, RFC 8705)."""
        getpeercert = getattr(self.connection, "getpeercert", None)
        return bool(getpeercert and getpeercert())

    def _introspect(self, params: dict[str, str], post: bool) -> None:
        self._only_post(post)
        self._json(200, self.provider.introspect(self.headers.get("Authorization", ""), params))

    def _userinfo(self, params: dict[str, str], post: bool) -> None:
        authorization = self.headers.get("Authorization", "")
        token = ""
        if authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        elif post:
            token = params.get("access_token", "")  # RFC 6750 §2.2
        if not token:
            self.provider.record("userinfo", "invalid_request", reason="pas de jeton")
            self._json(
                401,
                {"error": "invalid_request", "error_description": "jeton d'accès (Bearer) attendu"},
                {"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
            return
        try:
            kind, info = self.provider.userinfo(token)
        except TokenInvalid as exc:
            # The header is ASCII: the description loses its accents there (the JSON body keeps them).
            ascii_reason = (
                unicodedata.normalize("NFKD", exc.reason).encode("ascii", "ignore").decode().replace('"', "'")
            )
            challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{ascii_reason}"'
            self._json(
                401,
                {"error": "invalid_token", "error_description": exc.reason},
                {"WWW-Authenticate": challenge},
            )
            return
        if kind == "jwt":
            self._send(200, str(info).encode("ascii"), "application/jwt", {"Cache-Control": "no-store"})
        else:
            assert isinstance(info, dict)
            self._json(200, info)

    def _logout(self, params: dict[str, str], post: bool) -> None:
        target = self.provider.end_session(params)
        if target:
            self._redirect(target)
        else:
            self._html(200, pages.logged_out_page(self._css_url))

    def _wallet(self, params: dict[str, str], post: bool) -> None:
        provider = self.provider
        if post:
            form_token = params.get("form_token", "")
            if params.get("decision") == "deny":
                self._redirect(provider.deny(form_token))
                return
            if params.get("decision") != "approve":
                raise PageError("Choisissez « Valider sur mon e-CPS » ou « Refuser ».")
            national_id = params.get("national_id", "")
            try:
                self._redirect(provider.approve(form_token, national_id))
            except UnknownProfessional:
                request = provider.form(form_token)
                self._approval(
                    request.client_id,
                    request.redirect_uri,
                    form_token,
                    national_id,
                    error="Identifiant national inconnu du bac à sable : choisissez un professionnel de la liste.",
                )
            return
        request = provider.check_authorize(params)  # PageError: unknown client or redirect URI, no redirect
        if problem := provider.request_problem(request, params):
            self._redirect(provider.error_redirect(request, *problem))
            return
        self._approval(request.client_id, request.redirect_uri, provider.open_form(request), request.login_hint)

    def _approval(self, client_id: str, redirect_uri: str, form_token: str, national_id: str, error: str = "") -> None:
        page = pages.approval_page(
            action=WALLET_PATH,
            css_url=self._css_url,
            form_token=form_token,
            client_id=client_id,
            redirect_uri=redirect_uri,
            national_id=national_id,
            professionals=self.provider.directory.all(),
            error=error,
        )
        self._html(400 if error else 200, page)


class ApprovalFailed(Exception):
    """`approve_for_tests` did not end in a redirect to the client (`status`, `text` of the last answer)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:300]}")
        self.status = status
        self.text = text


@dataclass
class PscSandbox:
    server: PscServer
    thread: threading.Thread
    provider: Provider
    ca: Path
    url: str  # the issuer, https://127.0.0.1:<port>/auth/realms/esante-wallet
    metadata_url: str
    wallet_url: str
    client_id: str
    client_secret: str

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def down(self) -> bool:
        return self.server.down

    @down.setter
    def down(self, value: bool) -> None:
        self.server.down = bool(value)

    @property
    def userinfo_format(self) -> str:
        return self.provider.userinfo_format

    @userinfo_format.setter
    def userinfo_format(self, value: str) -> None:
        if value not in USERINFO_FORMATS:
            raise ValueError(f"userinfo_format : {USERINFO_FORMATS}")
        self.provider.userinfo_format = value

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.provider.events

    @property
    def keys(self) -> KeyRing:
        return self.provider.keys

    @property
    def directory(self) -> Directory:
        return self.provider.directory

    def jwks(self) -> dict[str, Any]:
        """The public JWKS, in process (what `certs` answers)."""
        return self.provider.keys.jwks()

    def owners_of(self, address: str) -> set[str]:
        """The national ids holding an MSSanté address (the records' `mss` lists): the MSS operator asks this."""
        return self.provider.directory.owners_of(address)

    def add_professional(self, record: dict[str, Any]) -> None:
        """Add (or replace, by SubjectNameID) a PSC-shaped record, with its `mss` list if any."""
        self.provider.directory.add(record)

    def rotate_keys(self, drop_old: bool = False) -> str:
        """A new RSA key (new kid) signs from now on; the old one stays in the JWKS unless `drop_old`."""
        return self.provider.keys.rotate(drop_old=drop_old)

    def expire_session(self, sid: str | None = None) -> int:
        """End the PSC session `sid` (every session when None), as PSC's 4 h / 30 min limits would: its refresh
        tokens are refused from now on. Returns how many sessions ended."""
        return self.provider.expire_session(sid)

    def sessions(self) -> list[Any]:
        return self.provider.sessions()

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock forward (idle and absolute session limits, code and token expiry)."""
        self.provider.clock_offset += seconds

    def stop(self) -> None:
        self.server.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- a user on the wallet, for non-browser tests -------------------------------------------------------

    def _request(self, method: str, url: str, body: str = "") -> tuple[int, dict[str, str], str]:
        parts = urlsplit(url)
        context = ssl.create_default_context(cafile=str(self.ca))
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context, timeout=10)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, text
        finally:
            connection.close()

    def _decide(self, authorize_url: str, decision: str, national_id: str = "") -> str:
        status, headers, text = self._request("GET", authorize_url)
        if status == 302:
            return headers["location"]  # the request was refused with an error sent back to the client
        found = re.search(r'name="form_token" value="([^"]+)"', text)
        if status != 200 or not found:
            raise ApprovalFailed(status, text)
        form = {"form_token": html.unescape(found.group(1)), "decision": decision, "national_id": national_id}
        status, headers, text = self._request("POST", self.wallet_url, urlencode(form))
        if status != 302:
            raise ApprovalFailed(status, text)
        return headers["location"]

    def approve_for_tests(self, authorize_url: str, national_id: str) -> str:
        """What a professional does on the wallet, over HTTP: open the page of `authorize_url` (the one the client
        built), approve for `national_id`; returns the redirect URL (with `code` and `state`, or `error` when the
        request itself was refused). ApprovalFailed when no redirect comes (error page, unknown professional)."""
        return self._decide(authorize_url, "approve", national_id)

    def deny_for_tests(self, authorize_url: str) -> str:
        """Same, pressing « Refuser »: the redirect URL with error=access_denied."""
        return self._decide(authorize_url, "deny")


def start_psc_sandbox(
    *,
    ca: Path,
    cert: Path,
    key: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    keys_path: Path,
    client_id: str = "caducee",
    client_secret: str,
    professionals: list[dict[str, Any]] | None = None,
) -> PscSandbox:
    """Start the PSC sandbox in a daemon thread (port 0 = any free port). `professionals` defaults to
    data/psc_professionals.json; the signing key is kept (0600) at `keys_path`."""
    if not client_secret:
        raise ValueError("client_secret est obligatoire")
    keys = KeyRing(Path(keys_path))
    directory = Directory(default_professionals() if professionals is None else professionals)
    server = PscServer((host, port), psc_ssl_context(ca=ca, cert=cert, key=key))
    url_host = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host  # noqa: S104
    base = f"https://{url_host}:{server.server_address[1]}"
    issuer = base + REALM_PATH
    provider = Provider(
        issuer=issuer,
        wallet_url=base + WALLET_PATH,
        client_id=client_id,
        client_secret=client_secret,
        keys=keys,
        directory=directory,
    )
    server.provider = provider
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="caducee-sandbox-psc", daemon=True
    )
    thread.start()
    logger.info("Bac à sable Pro Santé Connect sur %s", issuer)
    return PscSandbox(
        server=server,
        thread=thread,
        provider=provider,
        ca=Path(ca),
        url=issuer,
        metadata_url=issuer + METADATA_PATH,
        wallet_url=base + WALLET_PATH,
        client_id=client_id,
        client_secret=client_secret,
    )
