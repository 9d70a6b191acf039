"""Pro Santé Connect login, account linking, work situation, token refresh and logout (issue 6 §1).

The browser leg: `psc_login_start` keeps state, nonce and PKCE verifier in the (server-side) Django session, keyed
by state, ten minutes at most; `psc_login_callback` consumes them once (a replayed or unknown state is refused),
exchanges the code, checks the ID token and reads userinfo. The professional is then:
- the user already linked to this PSC `sub` → logged in;
- the local user with the same national id (8+RPPS / 0+ADELI), not yet linked → asked for their local password
  once, then linked for good (SC.PSC.02, `psc_link_account`);
- nobody → refused (an administrator must create the account with the RPPS).
With several work situations the user picks one (`psc_choose_situation`), else the only one is taken.

The PSC session (`PscSession`) holds the tokens sealed: the worker, another process, takes the user's access token
from it to authenticate to the MSSanté operator (XOAUTH2, SC.MSS/CONF.07) through `psc_access_token`, which refreshes
it before its two minutes run out. When a refresh is refused the PSC session is over (4 h, or 30 min idle): the
session is ended (SC.MSS/CONF.10) and the web session logged out; the MSS token caches of every process (web,
worker) notice it themselves through `accounts.psc.selectors.psc_session_mark` before reusing a token.
Every step is audited (`auth.psc.*`, exported as syslog with the other `auth.` events, SC.SSI/IAM.90).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth import login
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from caducee.accounts.models import PscSession, User
from caducee.accounts.psc import oidc
from caducee.accounts.psc.claims import PscIdentity, identity_from_userinfo
from caducee.accounts.psc.endpoint import PscEndpoint, psc_endpoint
from caducee.accounts.psc.selectors import SITUATION_KEY, open_psc_session
from caducee.accounts.services import user_authenticate
from caducee.core.audit import audit_record
from caducee.core.crypto import SealError, seal, unseal
from caducee.core.models import AuditEvent

PENDING_KEY = "psc_pending"  # state → {nonce, verifier, next, redirect_uri, at}
LINK_KEY = "psc_link"  # the authenticated-at-PSC identity waiting for the local password (SC.PSC.02)
SESSION_KEY = "psc_session_id"
SITUATION_LABEL_KEY = "psc_situation"
STATE_MAX_AGE = 600  # seconds between the redirect to PSC and the callback
MAX_PENDING = 5  # several tabs may start a login; older attempts are dropped
ACCESS_MARGIN = timedelta(seconds=30)  # an access token this close to expiry is refreshed before use
KEEPALIVE_AFTER = timedelta(minutes=5)  # an active user's PSC session is refreshed this often (DB/CO.65)


class PscLoginError(Exception):
    """A refused PSC login step; French message for the page."""


class PscSessionEnded(Exception):
    """The user's PSC session is over (refresh refused): a new PSC login is needed."""


@dataclass(frozen=True)
class CallbackOutcome:
    kind: str  # "login" (done), "link" (password needed), "situation" (choose a work situation)
    next_url: str = ""


def _absolute(request: HttpRequest, path: str) -> str:
    base = str(settings.PSC_PUBLIC_URL).rstrip("/")
    return base + path if base else request.build_absolute_uri(path)


def _redirect_uri(request: HttpRequest) -> str:
    return _absolute(request, reverse("psc:callback"))


def _refuse(request: HttpRequest, reason: str, message: str, *, user: User | None = None, **detail: str) -> NoReturn:
    audit_record(
        actor=None,
        action="auth.psc.login",
        object_type="user",
        object_id=user.pk if user else "",
        outcome=AuditEvent.Outcome.REFUSED,
        detail={"reason": reason, **detail},
        request=request,
    )
    raise PscLoginError(message)


def psc_login_start(*, request: HttpRequest, next_url: str = "", login_hint: str = "") -> str:
    """The wallet URL to redirect to; the attempt is remembered in the session under its state."""
    try:
        endpoint = psc_endpoint()
        auth = oidc.authorization_request(endpoint, redirect_uri=_redirect_uri(request), login_hint=login_hint)
    except oidc.PscError as exc:
        _refuse(request, exc.reason, str(exc))
    except ImproperlyConfigured as exc:
        _refuse(request, "non configuré", f"Connexion par Pro Santé Connect indisponible sur ce poste : {exc}")
    pending: dict[str, Any] = dict(request.session.get(PENDING_KEY) or {})
    pending[auth.state] = {
        "nonce": auth.nonce,
        "verifier": auth.code_verifier,
        "next": next_url,
        "redirect_uri": _redirect_uri(request),
        "at": time.time(),
    }
    request.session[PENDING_KEY] = dict(sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING:])
    return auth.url


def psc_login_callback(*, request: HttpRequest, params: dict[str, str]) -> CallbackOutcome:
    """Consume the callback's state, finish the OIDC exchange and decide what the user does next."""
    pending: dict[str, Any] = dict(request.session.get(PENDING_KEY) or {})
    attempt = pending.pop(params.get("state", ""), None)
    request.session[PENDING_KEY] = pending  # a state is consumed once, even when the rest fails
    if attempt is None:
        _refuse(
            request,
            "state inconnu ou rejoué",
            "Cette réponse de Pro Santé Connect ne correspond à aucune connexion en cours (lien rejoué ou expiré) : "
            "recommencez.",
        )
    if time.time() - float(attempt["at"]) > STATE_MAX_AGE:
        _refuse(request, "state expiré", "La connexion Pro Santé Connect a pris trop de temps : recommencez.")
    if params.get("error"):
        error = params["error"][:60]
        message = (
            "Connexion refusée sur votre e-CPS."
            if error == "access_denied"
            else f"Pro Santé Connect a refusé la connexion ({error})."
        )
        _refuse(request, f"erreur PSC {error}", message)
    if not params.get("code"):
        _refuse(request, "code absent", "Réponse de Pro Santé Connect incomplète : recommencez.")
    try:
        endpoint = psc_endpoint()
        tokens = oidc.exchange_code(
            endpoint, code=params["code"], redirect_uri=attempt["redirect_uri"], code_verifier=attempt["verifier"]
        )
        id_claims = oidc.verify_id_token(endpoint, tokens.id_token, nonce=attempt["nonce"])
        userinfo = oidc.fetch_userinfo(endpoint, tokens.access_token, subject=str(id_claims["sub"]))
    except oidc.PscError as exc:
        _refuse(request, exc.reason, str(exc))
    except ImproperlyConfigured as exc:
        _refuse(request, "non configuré", f"Connexion par Pro Santé Connect indisponible sur ce poste : {exc}")
    identity = identity_from_userinfo(userinfo)
    if not identity.national_id:
        _refuse(request, "SubjectNameID absent", "Pro Santé Connect n'a pas transmis votre identifiant national.")
    carried = {
        "identity": _identity_dict(identity),
        "tokens": _sealed_tokens(tokens),
        "sid": str(id_claims.get("sid") or tokens.session_state),
        "next": attempt["next"],
    }
    user = User.objects.filter(psc_sub=identity.sub).first()
    if user is None:
        candidate = _local_account(identity)
        if candidate is None:
            _refuse(
                request,
                "aucun compte",
                f"Aucun compte Caducée ne porte votre identifiant national ({identity.national_id}) : demandez à "
                "l'administrateur de la structure de créer votre compte avec votre RPPS.",
                national_id=identity.national_id,
            )
        request.session[LINK_KEY] = {**carried, "user_id": candidate.pk}
        return CallbackOutcome("link")
    if not user.is_active or user.national_id != identity.national_id:
        _refuse(
            request,
            "compte inactif ou identifiant national différent",
            "Ce compte Caducée est désactivé ou ne correspond plus à votre identité : contactez l'administrateur.",
            user=user,
        )
    return _after_identity(request, user, carried)


def _local_account(identity: PscIdentity) -> User | None:
    if identity.rpps:
        return User.objects.filter(rpps=identity.rpps, psc_sub__isnull=True).first()
    if identity.adeli:
        return User.objects.filter(adeli=identity.adeli, psc_sub__isnull=True).first()
    return None


def psc_link_account(*, request: HttpRequest, username: str, password: str) -> CallbackOutcome:
    """SC.PSC.02: the local password of the account with the same national id links it to the PSC identity."""
    carried = request.session.get(LINK_KEY)
    if not carried:
        raise PscLoginError("Aucune connexion Pro Santé Connect en attente de rapprochement : recommencez.")
    user = user_authenticate(request=request, username=username, password=password)  # LoginError, lockout, audit
    if user.pk != carried["user_id"]:
        del request.session[LINK_KEY]
        _refuse(
            request,
            "rapprochement avec un autre compte",
            "Ce compte local ne porte pas votre identifiant national : le rapprochement est refusé.",
            user=user,
        )
    identity = carried["identity"]
    with transaction.atomic():
        updated = User.objects.filter(pk=user.pk, psc_sub__isnull=True).update(
            psc_sub=identity["sub"], psc_linked_at=timezone.now()
        )
    if not updated:
        _refuse(request, "compte déjà rapproché", "Ce compte est déjà rapproché d'une identité Pro Santé Connect.")
    audit_record(
        actor=user,
        action="auth.psc.link",
        object_type="user",
        object_id=user.pk,
        detail={"national_id": identity["national_id"]},
        request=request,
    )
    del request.session[LINK_KEY]
    user.refresh_from_db()
    return _after_identity(request, user, carried)


def _after_identity(request: HttpRequest, user: User, carried: dict[str, Any]) -> CallbackOutcome:
    situations = carried["identity"]["situations"]
    if len(situations) > 1:
        request.session[SITUATION_KEY] = {**carried, "user_id": user.pk}
        return CallbackOutcome("situation")
    _open_session(request, user, carried, situations[0] if situations else {})
    return CallbackOutcome("login", carried["next"])


def psc_choose_situation(*, request: HttpRequest, key: str) -> CallbackOutcome:
    carried = request.session.get(SITUATION_KEY)
    if not carried:
        raise PscLoginError("Aucune connexion Pro Santé Connect en attente : recommencez.")
    chosen = next((s for s in carried["identity"]["situations"] if s["key"] == key), None)
    if chosen is None:
        raise PscLoginError("Choisissez une de vos situations d'exercice.")
    user = User.objects.get(pk=carried["user_id"])
    del request.session[SITUATION_KEY]
    _open_session(request, user, carried, chosen)
    return CallbackOutcome("login", carried["next"])


def _open_session(request: HttpRequest, user: User, carried: dict[str, Any], situation: dict[str, str]) -> None:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()  # the key rotated at login: record the new one
    tokens = carried["tokens"]
    now = timezone.now()
    session = PscSession.objects.create(
        user=user,
        django_session_key=request.session.session_key or "",
        sid=carried["sid"][:255],
        national_id=carried["identity"]["national_id"],
        id_token=tokens["id_token"],
        access_token=tokens["access_token"],
        access_expires_at=now + timedelta(seconds=tokens["expires_in"]),
        refresh_token=tokens["refresh_token"],
        refresh_expires_at=now + timedelta(seconds=tokens["refresh_expires_in"]),
        work_situation=situation,
        refreshed_at=now,
    )
    request.session[SESSION_KEY] = session.pk
    # The top bar shows the structure's name; the full label (sector, mode) is its tooltip.
    request.session[SITUATION_LABEL_KEY] = situation.get("organization") or situation.get("label", "")
    request.session[SITUATION_LABEL_KEY + "_detail"] = situation.get("label", "")
    User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None, last_login=now)
    audit_record(
        actor=user,
        action="auth.psc.login",
        object_type="user",
        object_id=user.pk,
        detail={"national_id": session.national_id, "situation": situation.get("label", "")},
        request=request,
    )


def _identity_dict(identity: PscIdentity) -> dict[str, Any]:
    return {
        "sub": identity.sub,
        "national_id": identity.national_id,
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "situations": [s.as_dict() for s in identity.situations],
    }


def _sealed_tokens(tokens: oidc.TokenSet) -> dict[str, Any]:
    """Tokens as they wait in the Django session (stored server-side): sealed, like in PscSession."""
    return {
        "access_token": seal(tokens.access_token),
        "refresh_token": seal(tokens.refresh_token),
        "id_token": seal(tokens.id_token),
        "expires_in": tokens.expires_in,
        "refresh_expires_in": tokens.refresh_expires_in,
    }


# ---------------------------------------------------------------------------------------------
# The PSC session after login: tokens for the other clients, keep-alive, end


def psc_end_session(*, session: PscSession, reason: str, request: HttpRequest | None = None) -> None:
    """End a PSC session: tokens wiped (SC.MSS/CONF.10). The MSSanté token caches of every process see it by
    themselves (`mss.tokens` compares `psc_session_mark` before using a cached token): nothing is pushed up."""
    updated = PscSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=timezone.now(), ended_reason=reason[:200], access_token="", refresh_token=""
    )
    if not updated:
        return
    audit_record(
        actor=session.user,
        action="auth.psc.end",
        object_type="user",
        object_id=session.user_id,
        detail={"reason": reason},
        request=request,
    )


def _refresh(session: PscSession, endpoint: PscEndpoint) -> PscSession:
    """Refresh under a row lock (the refresh token rotates: two processes must not both use it)."""
    with transaction.atomic():
        locked = PscSession.objects.select_for_update().get(pk=session.pk)
        if locked.ended_at is not None:
            raise PscSessionEnded("Session Pro Santé Connect terminée.")
        now = timezone.now()
        if (
            session.refreshed_at is not None
            and locked.refreshed_at is not None
            and locked.refreshed_at > session.refreshed_at
            and locked.access_expires_at is not None
            and locked.access_expires_at - ACCESS_MARGIN > now
        ):
            return locked  # another process refreshed it meanwhile: its tokens are the good ones
        try:
            tokens = oidc.refresh_tokens(endpoint, unseal(locked.refresh_token))
        except (oidc.PscUnavailable, SealError) as exc:
            if isinstance(exc, SealError):
                raise PscSessionEnded("Session Pro Santé Connect illisible (clé changée).") from exc
            raise
        except oidc.PscError as exc:
            raise PscSessionEnded(str(exc)) from exc  # refused: the PSC session is over
        locked.access_token = seal(tokens.access_token)
        locked.access_expires_at = now + timedelta(seconds=tokens.expires_in)
        if tokens.refresh_token:
            locked.refresh_token = seal(tokens.refresh_token)
            locked.refresh_expires_at = now + timedelta(seconds=tokens.refresh_expires_in)
        if tokens.id_token:
            locked.id_token = seal(tokens.id_token)
        locked.refreshed_at = now
        locked.save(
            update_fields=[
                "access_token",
                "access_expires_at",
                "refresh_token",
                "refresh_expires_at",
                "id_token",
                "refreshed_at",
            ]
        )
        return locked


def psc_refresh(*, session: PscSession, request: HttpRequest | None = None) -> PscSession:
    """A refreshed session; PscSessionEnded (session ended, audited) or oidc.PscUnavailable (try later)."""
    try:
        return _refresh(session, psc_endpoint())
    except PscSessionEnded as exc:
        psc_end_session(session=session, reason=f"rafraîchissement refusé : {exc}", request=request)
        raise


def psc_access_token(*, user: Any) -> str:
    """The user's PSC access token, refreshed if it expires within 30 s.

    PscSessionEnded when the user has no live PSC session (or it just ended); oidc.PscUnavailable when PSC cannot
    be reached (worth retrying)."""
    session = open_psc_session(user)
    if session is None:
        raise PscSessionEnded("Aucune session Pro Santé Connect ouverte : reconnectez-vous avec votre e-CPS.")
    if session.access_expires_at is None or session.access_expires_at - ACCESS_MARGIN <= timezone.now():
        session = psc_refresh(session=session)
    try:
        return unseal(session.access_token)
    except SealError as exc:
        psc_end_session(session=session, reason="jeton illisible")
        raise PscSessionEnded("Session Pro Santé Connect illisible : reconnectez-vous.") from exc


def psc_keepalive(*, request: HttpRequest) -> bool:
    """Called on each request of a PSC-logged user: False when the PSC session is over (log the user out)."""
    session_id = request.session.get(SESSION_KEY)
    session = PscSession.objects.filter(pk=session_id).first() if session_id else None
    if session is None or session.ended_at is not None:
        return False
    now = timezone.now()
    if session.refresh_expires_at is None or session.refresh_expires_at <= now:
        psc_end_session(session=session, reason="session Pro Santé Connect expirée", request=request)
        return False
    if session.refreshed_at is None or now - session.refreshed_at >= KEEPALIVE_AFTER:
        try:
            psc_refresh(session=session, request=request)
        except PscSessionEnded:
            return False
        except oidc.PscUnavailable:
            pass  # PSC down: the local session goes on; the next request tries again
    return True


def psc_logout(*, request: HttpRequest) -> str:
    """End the user's PSC session; the URL of PSC's end-session endpoint to redirect to (RP-initiated), or ""."""
    session_id = request.session.get(SESSION_KEY)
    session = PscSession.objects.filter(pk=session_id).first() if session_id else None
    if session is None:
        return ""
    try:
        id_token = unseal(session.id_token)
    except SealError:
        id_token = ""
    psc_end_session(session=session, reason="déconnexion", request=request)
    try:
        endpoint = psc_endpoint()
    except ImproperlyConfigured:  # logout must always succeed locally
        return ""
    return oidc.end_session_url(
        endpoint,
        id_token=id_token,
        post_logout_redirect_uri=_absolute(request, reverse("psc:logged_out")),
        state=str(session.pk),
    )


def psc_bearer(*, user: Any) -> str:
    """The user's PSC access token for a call that may carry it (INSi, SC.INS/PSC.01), or "" without PSC session.

    Never raises: a call that can also go with the structure's certificate alone must not fail because PSC did."""
    if open_psc_session(user) is None:
        return ""
    try:
        return psc_access_token(user=user)
    except (PscSessionEnded, oidc.PscUnavailable, ImproperlyConfigured):
        return ""
