"""OAuth2 access tokens for the SASL XOAUTH2 authentication of PER/ORG mailboxes (SC.MSS/CONF.07).

A personal (or organisational) mailbox whose owner is logged in through Pro Santé Connect authenticates with the
owner's own PSC access token (`accounts.psc.services.psc_access_token`, refreshed before its two minutes run out):
that is SC.MSS/CONF.07 — the CPS authentication of a PER/ORG mailbox is delegated to PSC. Without a live PSC
session, the token comes from the operator's token endpoint when one is configured (OAuth2 `client_credentials`
with a `login_hint` naming the mailbox, over mutual TLS with the practice's certificate — what the sandbox operator
offers, and what lets the worker keep sending for a user who logged in with a password).

SC.MSS/CONF.28: a token is never stored at rest. It lives in this process's memory only (one entry per mailbox),
refreshed `REFRESH_MARGIN` seconds before it expires, never written to the database, a file or a log line.
SC.MSS/CONF.10: when a token cannot be obtained the sessions are closed and the cached tokens forgotten
(`forget_tokens`, called by the transport). When the owner's PSC session ends — in whichever process: the web
server at logout, the worker when a refresh is refused — the cached token of their mailboxes is not used again:
each cached token remembers the owner's PSC sessions as they were when it was obtained (`psc_session_mark`), and
is dropped when the database says otherwise. The cache pulls that state itself; `accounts` never calls up here.

The errors of the MSS client live here (the transport re-exports them): French messages shown as they are.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import requests
from django.core.exceptions import ImproperlyConfigured

from caducee.accounts.psc.oidc import PscUnavailable
from caducee.accounts.psc.selectors import PscSessionMark, psc_session_mark
from caducee.accounts.psc.services import PscSessionEnded, psc_access_token
from caducee.mss.endpoint import MssEndpoint, mss_endpoint

if TYPE_CHECKING:
    from caducee.mss.models import Mailbox

REFRESH_MARGIN = 30.0  # seconds: a token this close to its expiry is renewed before use
DEFAULT_LIFETIME = 60.0  # when the endpoint does not say (`expires_in` missing)


class MssError(Exception):
    """A failed MSSanté operation; the message is French and shown to the user."""


class MssUnavailable(MssError):
    """The operator (or its token endpoint) cannot be reached or answered badly: worth retrying later."""


class MssAuthError(MssError):
    """Authentication refused: no token for this mailbox, or the server refused it."""


@dataclass(frozen=True)
class _Token:
    value: str = ""
    expires_at: float = 0.0  # time.monotonic()
    # The owner's PSC sessions when the token was obtained (None: a mailbox without owner), SC.MSS/CONF.10.
    psc_mark: PscSessionMark | None = None

    def fresh(self, now: float) -> bool:
        return bool(self.value) and now < self.expires_at - REFRESH_MARGIN


class TokenCache:
    """The tokens of one process, by mailbox address (SC.MSS/CONF.28: memory only)."""

    def __init__(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def get(self, address: str) -> _Token | None:
        with self._lock:
            return self._tokens.get(address)

    def put(self, address: str, token: _Token) -> None:
        with self._lock:
            self._tokens[address] = token

    def __contains__(self, address: object) -> bool:
        with self._lock:
            return address in self._tokens

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)

    def forget(self, address: str | None = None) -> None:
        with self._lock:
            if address is None:
                self._tokens.clear()
            else:
                self._tokens.pop(address, None)


_cache = TokenCache()  # this process's


def access_token(mailbox: Mailbox, *, endpoint: MssEndpoint | None = None, cache: TokenCache | None = None) -> str:
    """A valid access token for `mailbox` (from the in-memory cache, or a new one); MssAuthError / MssUnavailable.

    SC.MSS/CONF.10: a cached token is used only while the owner's PSC sessions are as they were when it was
    obtained — a PSC session that ended since (in this process or another) drops it."""
    cache = cache if cache is not None else _cache
    psc_token = _psc_token(mailbox)
    if psc_token:
        return psc_token
    address = mailbox.address.lower()
    mark = psc_session_mark(mailbox.owner_id) if mailbox.owner_id is not None else None  # read before the request
    cached = cache.get(address)
    if cached is not None and cached.fresh(time.monotonic()) and cached.psc_mark == mark:
        return cached.value
    try:
        token = _request_token(address, endpoint or mss_endpoint())
    except MssAuthError:
        cache.forget(address)
        raise
    cache.put(address, replace(token, psc_mark=mark))
    return token.value


def _psc_token(mailbox: Mailbox) -> str:
    """The owner's PSC access token when they have a live PSC session, else "" (SC.MSS/CONF.07)."""
    if mailbox.owner_id is None:
        return ""
    try:
        return psc_access_token(user=mailbox.owner)
    except PscSessionEnded:
        return ""  # no PSC session (or it just ended, SC.MSS/CONF.10): the operator's own token service, if any
    except PscUnavailable as exc:
        raise MssUnavailable("Pro Santé Connect ne répond pas : l'envoi sera retenté.") from exc
    except ImproperlyConfigured:
        return ""  # PSC no longer configured on this machine


def forget_tokens(mailbox: Mailbox | None = None) -> None:
    """Drop this process's cached token of `mailbox` (all of them when None): token refused by the server."""
    _cache.forget(mailbox.address.lower() if mailbox is not None else None)


def _request_token(address: str, endpoint: MssEndpoint) -> _Token:
    """POST grant_type=client_credentials&login_hint=<address> to the token URL over mutual TLS."""
    if not endpoint.token_url:
        raise MssAuthError("Aucun service de jetons MSSanté n'est configuré (CADUCEE_MSS_TOKEN_URL).")
    cert = (
        (str(endpoint.client_cert), str(endpoint.client_key)) if endpoint.client_cert and endpoint.client_key else None
    )
    started = time.monotonic()
    try:
        response = requests.post(
            endpoint.token_url,
            data={"grant_type": "client_credentials", "login_hint": address},
            cert=cert,
            verify=str(endpoint.ca) if endpoint.ca else True,
            timeout=endpoint.timeout,
            headers={"Accept": "application/json"},
        )
    except requests.exceptions.SSLError as exc:
        raise MssUnavailable(
            "Connexion TLS refusée par le service de jetons MSSanté (certificat du serveur ou de la structure)."
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise MssUnavailable("Le service de jetons MSSanté ne répond pas : nouvel essai plus tard.") from exc
    if response.status_code in (400, 401, 403):
        raise MssAuthError(
            f"Le service de jetons MSSanté refuse la boîte {address} (HTTP {response.status_code}) : "
            "vérifiez l'adresse de la BAL et le certificat de la structure."
        )
    if response.status_code != 200:
        raise MssUnavailable(
            f"Le service de jetons MSSanté a répondu HTTP {response.status_code} : nouvel essai plus tard."
        )
    try:
        body: Any = response.json()
        value = str(body["access_token"])
        lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
    except (ValueError, KeyError, TypeError) as exc:
        raise MssUnavailable("Réponse illisible du service de jetons MSSanté.") from exc
    if not value or str(body.get("token_type", "Bearer")).lower() != "bearer":
        raise MssUnavailable("Le service de jetons MSSanté n'a pas fourni de jeton « Bearer ».")
    return _Token(value=value, expires_at=started + lifetime)


def endpoint_or_unavailable() -> MssEndpoint:
    """`mss_endpoint()`, its configuration errors as MssUnavailable (the outbox retries once it is configured)."""
    try:
        return mss_endpoint()
    except ImproperlyConfigured as exc:
        raise MssUnavailable(str(exc) or "La messagerie MSSanté n'est pas configurée sur ce poste.") from exc
