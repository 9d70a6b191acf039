"""The OpenID Connect provider behind the PSC sandbox: authorization requests, codes, PSC sessions, tokens.

HTTP-free (server.py maps its answers and exceptions to HTTP). What it enforces, as PSC does (notes/psc §1.2–1.4):
- authorization: `response_type=code`, a registered client, a redirect URI on the loopback, `state` and `nonce`,
  PKCE S256 only, `scope` with `openid`, `acr_values=eidas1` (SC.PSC.08);
- codes: random, single use, 60 s; a code presented twice revokes every token issued from it (RFC 6749 §4.1.2);
- tokens: access 2 min (RS256 JWT), refresh 30 min, rotated at each use (the old one is refused after);
  the PSC session lives 4 h at most and dies after 30 min without a refresh (`refresh_expires_in` shrinks to the
  absolute limit);
- userinfo, introspection, end_session and the JWKS.
Everything is in memory (a restart ends every PSC session, like a new PSC deployment would): the sandbox keeps
only its signing key on disk. Times come from `now()`, which tests may shift with `advance()`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from caducee.sandbox.psc.directory import Directory
from caducee.sandbox.psc.keys import KeyRing, TokenInvalid

REALM = "esante-wallet"
ACR = "eidas1"
SCOPES = ("openid", "scope_all")
ACCESS_LIFETIME = 120  # notes/psc §1.4: access token 2 min
REFRESH_LIFETIME = 1800  # refresh token 30 min
SESSION_MAX = 4 * 3600  # PSC session: 4 h at most…
SESSION_IDLE = 1800  # …or 30 min without activity
CODE_LIFETIME = 60
ID_TOKEN_LIFETIME = 300
FORM_LIFETIME = 600  # an approval page left open this long must be reloaded
MAX_EVENTS = 10_000
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class OAuthError(Exception):
    """An error answered as JSON {error, error_description} with `status`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class PageError(Exception):
    """An error shown to the user on the wallet's page, never sent back to the client (unsafe redirect)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownProfessional(Exception):
    """The national id typed on the approval page is not one of the sandbox's professionals."""


def redirect_allowed(uri: str) -> bool:
    """Only http(s)://127.0.0.1:<port>/… and http(s)://localhost:<port>/…, any port.

    The real PSC compares redirect URIs with those registered for the client. The sandbox serves `caducee demo`
    and the tests, whose ports change at every run, so it registers the whole loopback instead: a code can never
    leave the machine, and anything else (another host, a user-info part, a fragment) is refused."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and parts.hostname in _LOOPBACK_HOSTS
        and "@" not in parts.netloc
        and not parts.fragment
        and (port is None or 0 < port < 65536)
    )


def with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(params)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _half_hash(token: str) -> str:
    """at_hash (OIDC Core §3.1.3.6): the left half of SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


@dataclass
class AuthRequest:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str
    scope: str
    login_hint: str
    created: float


@dataclass
class PscSession:
    sid: str
    national_id: str
    sub: str
    client_id: str
    auth_time: int
    last_activity: float
    ended: str = ""  # why the session ended ("" while it lives)


@dataclass
class _Code:
    request: AuthRequest
    sid: str
    grant: str
    created: float
    used: bool = False


@dataclass
class _Refresh:
    sid: str
    grant: str
    client_id: str
    scope: str
    nonce: str
    exp: float
    used: bool = False


@dataclass
class _Access:
    sid: str
    grant: str
    exp: float


@dataclass
class Provider:
    issuer: str
    wallet_url: str
    client_id: str
    client_secret: str
    keys: KeyRing
    directory: Directory
    userinfo_format: str = "json"
    clock_offset: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _forms: dict[str, AuthRequest] = field(default_factory=dict, repr=False)
    _codes: dict[str, _Code] = field(default_factory=dict, repr=False)
    _sessions: dict[str, PscSession] = field(default_factory=dict, repr=False)
    _refresh: dict[str, _Refresh] = field(default_factory=dict, repr=False)
    _access: dict[str, _Access] = field(default_factory=dict, repr=False)  # by jti
    _revoked_grants: set[str] = field(default_factory=set, repr=False)

    # -- helpers --------------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    def record(self, event: str, outcome: str, **details: Any) -> None:
        """Note what happened for the tests (`events`); never a token."""
        with self._lock:
            self.events.append({"at": self.now(), "event": event, "outcome": outcome, **details})
            if len(self.events) > MAX_EVENTS:  # a sandbox left running for days keeps the recent ones
                del self.events[: MAX_EVENTS // 5]

    @property
    def endpoints(self) -> dict[str, str]:
        base = f"{self.issuer}/protocol/openid-connect"
        return {
            "token": f"{base}/token",
            "userinfo": f"{base}/userinfo",
            "logout": f"{base}/logout",
            "introspect": f"{base}/token/introspect",
            "certs": f"{base}/certs",
        }

    def metadata(self) -> dict[str, Any]:
        ends = self.endpoints
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.wallet_url,
            "token_endpoint": ends["token"],
            "userinfo_endpoint": ends["userinfo"],
            "end_session_endpoint": ends["logout"],
            "introspection_endpoint": ends["introspect"],
            "jwks_uri": ends["certs"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": [ACR],
            "scopes_supported": list(SCOPES),
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "tls_client_auth"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "acr",
                "SubjectNameID",
                "preferred_username",
                "given_name",
                "family_name",
                "SubjectRole",
                "SubjectRefPro",
                "Secteur_Activite",
                "SubjectOrganization",
                "SubjectOrganizationID",
            ],
        }

    def _session_alive(self, session: PscSession | None, now: float) -> str:
        """ "" when the session lives, else why it does not."""
        if session is None:
            return "session PSC inconnue"
        if session.ended:
            return f"session PSC terminée ({session.ended})"
        if now >= session.auth_time + SESSION_MAX:
            return "session PSC terminée (4 h atteintes)"
        if now - session.last_activity >= SESSION_IDLE:
            return "session PSC terminée (30 min d'inactivité)"
        return ""

    def _prune(self, now: float) -> None:
        """Forget what can no longer be used (called under the lock)."""
        self._forms = {k: v for k, v in self._forms.items() if v.created + FORM_LIFETIME > now}
        self._codes = {k: v for k, v in self._codes.items() if v.created + 10 * CODE_LIFETIME > now}
        self._refresh = {k: v for k, v in self._refresh.items() if v.exp > now}
        self._access = {k: v for k, v in self._access.items() if v.exp + 60 > now}
        self._sessions = {k: v for k, v in self._sessions.items() if v.auth_time + SESSION_MAX + 3600 > now}

    # -- authorization (the wallet) ---------------------------------------------------------------------------

    def check_authorize(self, params: dict[str, str]) -> AuthRequest:
        """The request a wallet page may be shown for. PageError when the client or the redirect URI is not
        trusted (never redirect there); the other checks are `request_problem`'s (errors sent to the client)."""
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id != self.client_id:
            self.record("authorize", "error_page", reason="client inconnu", client_id=client_id)
            raise PageError(f"Application inconnue de Pro Santé Connect : « {client_id or '(aucune)'} ».")
        if not redirect_allowed(redirect_uri):
            self.record("authorize", "error_page", reason="redirect_uri refusée", client_id=client_id)
            raise PageError(
                "Adresse de retour non autorisée pour cette application (le bac à sable n'accepte que "
                "http(s)://127.0.0.1:<port>/… et http(s)://localhost:<port>/…)."
            )
        return AuthRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=params.get("state", ""),
            nonce=params.get("nonce", ""),
            code_challenge=params.get("code_challenge", ""),
            scope=params.get("scope", ""),
            login_hint=params.get("login_hint", ""),
            created=self.now(),
        )

    def request_problem(self, request: AuthRequest, params: dict[str, str]) -> tuple[str, str] | None:
        """(error, description) to send back to the client's redirect URI, or None when the request is good."""
        if params.get("response_type") != "code":
            return "unsupported_response_type", "response_type=code attendu"
        if not request.state:
            return "invalid_request", "state manquant"
        if not request.nonce:
            return "invalid_request", "nonce manquant"
        if "openid" not in request.scope.split():
            return "invalid_request", "scope openid attendu"
        if params.get("code_challenge_method") != "S256":
            return "invalid_request", "PKCE : code_challenge_method=S256 attendu"
        if not re.fullmatch(r"[A-Za-z0-9_\-]{43}", request.code_challenge):
            return "invalid_request", "PKCE : code_challenge manquant ou invalide"
        if params.get("acr_values") != ACR:
            return "invalid_request", "acr_values=eidas1 attendu"
        return None

    def error_redirect(self, request: AuthRequest, error: str, description: str) -> str:
        self.record("authorize", error, reason=description, client_id=request.client_id)
        params = {"error": error, "error_description": description}
        if request.state:
            params["state"] = request.state
        return with_query(request.redirect_uri, params)

    def open_form(self, request: AuthRequest) -> str:
        """A single-use token for the approval form shown for `request`."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._prune(self.now())
            self._forms[token] = request
        self.record("authorize", "page", client_id=request.client_id, login_hint=request.login_hint)
        return token

    def form(self, form_token: str) -> AuthRequest:
        with self._lock:
            request = self._forms.get(form_token)
        if request is None or request.created + FORM_LIFETIME <= self.now():
            raise PageError("Demande d'authentification expirée ou inconnue : recommencez depuis l'application.")
        return request

    def deny(self, form_token: str) -> str:
        request = self.form(form_token)
        with self._lock:
            self._forms.pop(form_token, None)
        self.record("authorize", "access_denied", client_id=request.client_id)
        params = {"error": "access_denied", "error_description": "refusé sur l'e-CPS", "state": request.state}
        return with_query(request.redirect_uri, params)

    def approve(self, form_token: str, national_id: str) -> str:
        """The professional approved on their e-CPS: a new PSC session and a code; the redirect URL."""
        request = self.form(form_token)
        national_id = national_id.strip()
        record = self.directory.get(national_id)
        if record is None:
            self.record("authorize", "unknown_professional", national_id=national_id[:20])
            raise UnknownProfessional(national_id)
        now = self.now()
        code = secrets.token_urlsafe(32)
        with self._lock:
            if self._forms.pop(form_token, None) is None:  # a double submit: only one code
                raise PageError("Demande déjà validée : recommencez depuis l'application.")
            session = PscSession(
                sid=secrets.token_hex(16),
                national_id=national_id,
                sub=str(record["sub"]),
                client_id=request.client_id,
                auth_time=int(now),
                last_activity=now,
            )
            self._sessions[session.sid] = session
            self._codes[code] = _Code(request=request, sid=session.sid, grant=secrets.token_hex(8), created=now)
        self.record("authorize", "approved", national_id=national_id, sid=session.sid, client_id=request.client_id)
        return with_query(request.redirect_uri, {"code": code, "state": request.state})

    # -- client authentication ------------------------------------------------------------------------------

    def authenticate_client(
        self, authorization: str, form: dict[str, str], event: str, *, tls_client: bool = False
    ) -> str:
        """client_secret_basic, client_secret_post, or tls_client_auth (RFC 8705: a client certificate of the
        sandbox CA and the client_id, no secret — PSC-POC's "mTLS avec PSC"); OAuthError(invalid_client, 401)."""
        client_id = secret = ""
        if tls_client and not authorization and "client_secret" not in form:
            if hmac.compare_digest(form.get("client_id", "").encode(), self.client_id.encode()):
                return self.client_id
            self.record(event, "invalid_client", client_id=form.get("client_id", "")[:100], method="tls")
            raise OAuthError("invalid_client", "authentification du client refusée", 401)
        if authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError) as exc:
                self.record(event, "invalid_client", reason="Basic illisible")
                raise OAuthError("invalid_client", "authentification du client illisible", 401) from exc
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)  # RFC 6749 §2.3.1
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_request", "client_id différent de l'authentification Basic")
        elif "client_secret" in form:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        ok = hmac.compare_digest(client_id.encode(), self.client_id.encode()) and hmac.compare_digest(
            secret.encode(), self.client_secret.encode()
        )
        if not ok:
            self.record(event, "invalid_client", client_id=client_id[:100])
            raise OAuthError("invalid_client", "authentification du client refusée", 401)
        return client_id

    # -- token endpoint -------------------------------------------------------------------------------------

    def token(self, authorization: str, form: dict[str, str], *, tls_client: bool = False) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        event = "refresh" if grant_type == "refresh_token" else "token"
        client_id = self.authenticate_client(authorization, form, event, tls_client=tls_client)
        if grant_type == "authorization_code":
            return self._code_grant(client_id, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(client_id, form)
        self.record(event, "unsupported_grant_type", grant_type=grant_type[:40])
        raise OAuthError("unsupported_grant_type", "grant_type authorization_code ou refresh_token attendu")

    def _fail(self, event: str, error: str, description: str, **details: Any) -> OAuthError:
        self.record(event, error, reason=description, **details)
        return OAuthError(error, description)

    def _code_grant(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        now = self.now()
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None:
                raise self._fail("token", "invalid_grant", "code inconnu ou expiré")
            if code.used:
                # RFC 6749 §4.1.2: a code used twice revokes the tokens first issued from it.
                self._revoked_grants.add(code.grant)
                raise self._fail("token", "invalid_grant", "code déjà utilisé : jetons révoqués", sid=code.sid)
            code.used = True
            request = code.request
            if request.client_id != client_id:
                raise self._fail("token", "invalid_grant", "code d'une autre application")
            if now >= code.created + CODE_LIFETIME:
                raise self._fail("token", "invalid_grant", "code expiré (60 s)")
            if form.get("redirect_uri", "") != request.redirect_uri:
                raise self._fail("token", "invalid_grant", "redirect_uri différente de celle de l'autorisation")
            verifier = form.get("code_verifier", "")
            if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), request.code_challenge):
                raise self._fail("token", "invalid_grant", "PKCE : code_verifier ne correspond pas (S256)")
            session = self._sessions.get(code.sid)
            if problem := self._session_alive(session, now):
                raise self._fail("token", "invalid_grant", problem)
            assert session is not None
            session.last_activity = now
            answer = self._issue(session, code.grant, client_id, request.scope, request.nonce, now)
        self.record("token", "ok", sid=session.sid, national_id=session.national_id)
        return answer

    def _refresh_grant(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        now = self.now()
        with self._lock:
            refresh = self._refresh.get(form.get("refresh_token", ""))
            if refresh is None:
                raise self._fail("refresh", "invalid_grant", "jeton de rafraîchissement inconnu ou expiré")
            if refresh.client_id != client_id:
                raise self._fail("refresh", "invalid_grant", "jeton d'une autre application")
            if refresh.used:
                raise self._fail(
                    "refresh", "invalid_grant", "jeton de rafraîchissement déjà utilisé (rotation)", sid=refresh.sid
                )
            if refresh.grant in self._revoked_grants:
                raise self._fail("refresh", "invalid_grant", "jetons révoqués", sid=refresh.sid)
            if now >= refresh.exp:
                raise self._fail("refresh", "invalid_grant", "jeton de rafraîchissement expiré", sid=refresh.sid)
            session = self._sessions.get(refresh.sid)
            if problem := self._session_alive(session, now):
                raise self._fail("refresh", "invalid_grant", problem, sid=refresh.sid)
            assert session is not None
            refresh.used = True
            session.last_activity = now
            answer = self._issue(session, refresh.grant, client_id, refresh.scope, refresh.nonce, now)
        self.record("refresh", "ok", sid=session.sid, national_id=session.national_id)
        return answer

    def _issue(
        self, session: PscSession, grant: str, client_id: str, scope: str, nonce: str, now: float
    ) -> dict[str, Any]:
        """Access, refresh and ID tokens for `session` (called under the lock)."""
        self._prune(now)
        issued = int(now)
        jti = secrets.token_urlsafe(16)
        access = self.keys.sign(
            {
                "iss": self.issuer,
                "sub": session.sub,
                "aud": [client_id, "mssante"],
                "azp": client_id,
                "exp": issued + ACCESS_LIFETIME,
                "iat": issued,
                "auth_time": session.auth_time,
                "jti": jti,
                "sid": session.sid,
                "session_state": session.sid,
                "scope": scope,
                "acr": ACR,
                "typ": "Bearer",
                "SubjectNameID": session.national_id,
                "preferred_username": session.national_id,
            }
        )
        self._access[jti] = _Access(sid=session.sid, grant=grant, exp=issued + ACCESS_LIFETIME)
        refresh_lifetime = int(min(REFRESH_LIFETIME, session.auth_time + SESSION_MAX - now))
        refresh_token = secrets.token_urlsafe(48)
        self._refresh[refresh_token] = _Refresh(
            sid=session.sid, grant=grant, client_id=client_id, scope=scope, nonce=nonce, exp=now + refresh_lifetime
        )
        id_claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": session.sub,
            "aud": client_id,
            "azp": client_id,
            "exp": issued + ID_TOKEN_LIFETIME,
            "iat": issued,
            "auth_time": session.auth_time,
            "acr": ACR,
            "amr": ["mfa", "otp"],
            "sid": session.sid,
            "session_state": session.sid,
            "at_hash": _half_hash(access),
            "idp": "PSC",
            "SubjectNameID": session.national_id,
            "preferred_username": session.national_id,
        }
        if nonce:
            id_claims["nonce"] = nonce
        return {
            "access_token": access,
            "expires_in": ACCESS_LIFETIME,
            "refresh_token": refresh_token,
            "refresh_expires_in": refresh_lifetime,
            "id_token": self.keys.sign(id_claims),
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": scope,
            "session_state": session.sid,
        }

    # -- access tokens: userinfo, introspection ------------------------------------------------------------

    def check_access(self, token: str) -> tuple[dict[str, Any], PscSession]:
        """The claims and session of a live access token of this sandbox; TokenInvalid otherwise."""
        claims = self.keys.verify(token)
        now = self.now()
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("émetteur inattendu")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            raise TokenInvalid("jeton expiré")
        with self._lock:
            access = self._access.get(str(claims.get("jti", "")))
            if access is None:
                raise TokenInvalid("jeton inconnu (pas un jeton d'accès de ce bac à sable)")
            if access.grant in self._revoked_grants:
                raise TokenInvalid("jeton révoqué")
            session = self._sessions.get(access.sid)
            if problem := self._session_alive(session, now):
                raise TokenInvalid(problem)
        assert session is not None
        return claims, session

    def userinfo(self, token: str) -> tuple[str, dict[str, Any] | str]:
        """("json", claims) or ("jwt", signed JWS) for a live access token; TokenInvalid otherwise."""
        try:
            claims, session = self.check_access(token)
        except TokenInvalid as exc:
            self.record("userinfo", "invalid_token", reason=exc.reason)
            raise
        info = self.directory.userinfo(session.national_id)
        if info is None:
            self.record("userinfo", "invalid_token", reason="professionnel retiré")
            raise TokenInvalid("professionnel inconnu")
        fmt = self.userinfo_format
        self.record("userinfo", "ok", format=fmt, sid=session.sid, national_id=session.national_id)
        if fmt == "jwt":
            return "jwt", self.keys.sign({**info, "iss": self.issuer, "aud": str(claims.get("azp", self.client_id))})
        return "json", info

    def introspect(self, authorization: str, form: dict[str, str]) -> dict[str, Any]:
        client_id = self.authenticate_client(authorization, form, "introspect")
        token = form.get("token", "")
        answer: dict[str, Any] = {"active": False}
        if token.count(".") == 2:
            try:
                claims, session = self.check_access(token)
            except TokenInvalid as exc:
                self.record("introspect", "inactive", reason=exc.reason)
                return answer
            answer = {
                "active": True,
                "token_type": "Bearer",
                "client_id": str(claims.get("azp", "")),
                **{
                    k: claims[k]
                    for k in ("exp", "iat", "auth_time", "jti", "iss", "sub", "aud", "azp", "typ", "scope", "sid")
                    if k in claims
                },
                "SubjectNameID": session.national_id,
                "preferred_username": session.national_id,
            }
        else:
            now = self.now()
            with self._lock:
                refresh = self._refresh.get(token)
                alive = (
                    refresh is not None
                    and not refresh.used
                    and refresh.grant not in self._revoked_grants
                    and refresh.exp > now
                    and refresh.client_id == client_id
                    and not self._session_alive(self._sessions.get(refresh.sid), now)
                )
                if alive:
                    assert refresh is not None
                    session = self._sessions[refresh.sid]
                    # PSC gives SubjectNameID only when an access token is introspected (notes/psc §1.4).
                    answer = {
                        "active": True,
                        "token_type": "Refresh",
                        "client_id": refresh.client_id,
                        "exp": int(refresh.exp),
                        "sub": session.sub,
                        "scope": refresh.scope,
                        "sid": refresh.sid,
                    }
        self.record("introspect", "active" if answer["active"] else "inactive")
        return answer

    # -- logout ---------------------------------------------------------------------------------------------

    def end_session(self, params: dict[str, str]) -> str:
        """End the session named by `id_token_hint`; the URL to redirect to ("" = show the logged-out page).
        PageError when the hint is missing or not ours, or the redirect URI not allowed."""
        hint = params.get("id_token_hint", "")
        try:
            claims = self.keys.verify(hint)  # an expired ID token is still a good hint (OIDC RP-Initiated Logout)
        except TokenInvalid as exc:
            self.record("logout", "error_page", reason=f"id_token_hint : {exc.reason}")
            raise PageError("Déconnexion impossible : jeton d'identité (id_token_hint) absent ou invalide.") from exc
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if claims.get("iss") != self.issuer or self.client_id not in audiences:
            self.record("logout", "error_page", reason="id_token_hint d'un autre émetteur ou client")
            raise PageError("Déconnexion impossible : jeton d'identité d'une autre application.")
        target = params.get("post_logout_redirect_uri", "")
        if target and not redirect_allowed(target):
            self.record("logout", "error_page", reason="post_logout_redirect_uri refusée")
            raise PageError("Adresse de retour après déconnexion non autorisée.")
        sid = str(claims.get("sid", ""))
        with self._lock:
            session = self._sessions.get(sid)
            already = session is None or bool(session.ended)
            if session is not None and not session.ended:
                session.ended = "déconnexion"
        self.record("logout", "already_ended" if already else "ok", sid=sid)
        if not target:
            return ""
        return with_query(target, {"state": params["state"]}) if params.get("state") else target

    # -- test controls --------------------------------------------------------------------------------------

    def expire_session(self, sid: str | None = None, *, reason: str = "expirée") -> int:
        """End one PSC session (all when sid is None): its refresh tokens and access tokens die with it."""
        with self._lock:
            ended = 0
            for session in self._sessions.values():
                if (sid is None or session.sid == sid) and not session.ended:
                    session.ended = reason
                    ended += 1
        self.record("session", "expired", sid=sid or "*", count=ended)
        return ended

    def sessions(self) -> list[PscSession]:
        with self._lock:
            return list(self._sessions.values())
