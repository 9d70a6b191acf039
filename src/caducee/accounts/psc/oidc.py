"""OpenID Connect with Pro Santé Connect: the relying party's side of the wire (notes/psc §1.2–1.4).

Authorization code flow with PKCE S256, `scope=openid scope_all`, `acr_values=eidas1` (SC.PSC.08), a random
`state` and 64-hex `nonce`; the token endpoint with the client secret (HTTP Basic) or mutual TLS; the ID token
checked here — asymmetric signature from the JWKS (reloaded once when a `kid` is unknown: key rotation), issuer,
audience/azp, expiry, nonce, `acr` — and userinfo read as JSON or as a signed JWT, possibly encrypted (JWE, with the
key of CADUCEE_PSC_USERINFO_DECRYPTION_KEY). Refresh and RP-initiated logout (`id_token_hint`).

`alg=none` and HMAC algorithms are never accepted (an HS256 token signed with the public key, the classic attack,
fails too). Every failure is a `PscError` with a French message for the user and a short `reason` for the audit;
no token is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import requests
from joserfc import jwe, jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, RSAKey

from caducee.accounts.psc.endpoint import PscEndpoint

SCOPE = "openid scope_all"
ACR = "eidas1"  # SC.PSC.08: the only eIDAS level PSC knows
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256")  # never none, never HS* (notes/psc §1.3; DESIGN "known traps")
CLOCK_SKEW = 60  # seconds of tolerance on exp / iat
METADATA_TTL = 3600.0
JWKS_MIN_RELOAD = 10.0  # an unknown kid reloads the JWKS at most this often (random kids cannot hammer PSC)
MAX_RESPONSE = 1_000_000


class PscError(Exception):
    """A refused or failed PSC step; `str()` is French for the user, `reason` short for the audit."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PscUnavailable(PscError):
    """PSC cannot be reached or answers badly."""


@dataclass(frozen=True)
class AuthRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    id_token: str
    expires_in: int
    refresh_expires_in: int
    session_state: str = ""


@dataclass
class _Cached:
    value: dict[str, Any]
    fetched_at: float


_metadata: dict[str, _Cached] = {}
_jwks: dict[str, _Cached] = {}
_kids_reloaded: set[str] = set()
_lock = threading.Lock()


def forget_cache() -> None:
    with _lock:
        _metadata.clear()
        _jwks.clear()
        _kids_reloaded.clear()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _get_json(endpoint: PscEndpoint, url: str, what: str) -> dict[str, Any]:
    try:
        response = requests.get(
            url, verify=endpoint.verify, timeout=endpoint.timeout, headers={"Accept": "application/json"}
        )
    except requests.RequestException as exc:
        raise PscUnavailable(
            "Pro Santé Connect ne répond pas : réessayez dans un instant ou connectez-vous par mot de passe.",
            f"{what}: injoignable",
        ) from exc
    if response.status_code != 200:
        raise PscUnavailable(
            f"Pro Santé Connect indisponible (HTTP {response.status_code}) : réessayez dans un instant.",
            f"{what}: HTTP {response.status_code}",
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise PscUnavailable("Réponse illisible de Pro Santé Connect.", f"{what}: JSON illisible") from exc
    if not isinstance(body, dict):
        raise PscUnavailable("Réponse illisible de Pro Santé Connect.", f"{what}: JSON inattendu")
    return body


def metadata(endpoint: PscEndpoint) -> dict[str, Any]:
    """The provider's metadata (cached one hour), from the explicit metadata URL."""
    now = time.monotonic()
    with _lock:
        cached = _metadata.get(endpoint.metadata_url)
    if cached is not None and now - cached.fetched_at < METADATA_TTL:
        return cached.value
    body = _get_json(endpoint, endpoint.metadata_url, "métadonnées")
    for key in ("issuer", "token_endpoint", "jwks_uri"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise PscUnavailable("Métadonnées Pro Santé Connect incomplètes.", f"métadonnées: {key} absent")
    with _lock:
        _metadata[endpoint.metadata_url] = _Cached(body, now)
    return body


def _key_set(endpoint: PscEndpoint, *, missing_kid: str | None = None) -> KeySet:
    """PSC's JWKS (cached); reloaded when a token names a kid it lacks (key rotation) — once per unknown kid, and
    not more often than JWKS_MIN_RELOAD overall, so tokens with random kids cannot make us hammer PSC."""
    uri = str(metadata(endpoint)["jwks_uri"])
    now = time.monotonic()
    with _lock:
        cached = _jwks.get(uri)
        reload = missing_kid is not None and missing_kid not in _kids_reloaded
        if reload and cached is not None and now - cached.fetched_at < JWKS_MIN_RELOAD and _kids_reloaded:
            reload = False
        if reload:
            _kids_reloaded.add(str(missing_kid))
            if len(_kids_reloaded) > 100:
                _kids_reloaded.clear()
    if cached is None or reload:
        body = _get_json(endpoint, uri, "JWKS")
        with _lock:
            _jwks[uri] = cached = _Cached(body, now)
    try:
        return KeySet.import_key_set(cached.value)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise PscUnavailable("Clés de signature Pro Santé Connect illisibles.", "JWKS illisible") from exc


def authorization_request(endpoint: PscEndpoint, *, redirect_uri: str, login_hint: str = "") -> AuthRequest:
    """The URL of the wallet to send the browser to, with a fresh state, nonce and PKCE verifier."""
    meta = metadata(endpoint)
    base = endpoint.authorization_url or str(meta.get("authorization_endpoint") or "")
    if not base:
        raise PscUnavailable("Point d'autorisation Pro Santé Connect inconnu.", "authorization_endpoint absent")
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_hex(32)  # 64 hex characters, like PSC's own provider
    verifier = secrets.token_urlsafe(64)
    params = {
        "response_type": "code",
        "client_id": endpoint.client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "acr_values": ACR,
        "state": state,
        "nonce": nonce,
        "code_challenge": _b64url(hashlib.sha256(verifier.encode("ascii")).digest()),
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in base else "?"
    return AuthRequest(url=base + separator + urlencode(params), state=state, nonce=nonce, code_verifier=verifier)


def _token_call(endpoint: PscEndpoint, data: dict[str, str], what: str) -> TokenSet:
    meta = metadata(endpoint)
    auth: tuple[str, str] | None = None
    if endpoint.cert:
        data = {**data, "client_id": endpoint.client_id}  # tls_client_auth: the certificate authenticates
    else:  # client_secret_basic: both parts form-urlencoded first (RFC 6749 §2.3.1; Keycloak decodes them)
        auth = (quote_plus(endpoint.client_id), quote_plus(endpoint.client_secret))
    try:
        response = requests.post(
            str(meta["token_endpoint"]),
            data=data,
            auth=auth,
            cert=endpoint.cert,
            verify=endpoint.verify,
            timeout=endpoint.timeout,
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise PscUnavailable(
            "Pro Santé Connect ne répond pas : réessayez dans un instant.", f"{what}: injoignable"
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code in (400, 401):
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        raise PscError(
            "Pro Santé Connect a refusé la connexion : recommencez.", f"{what}: {error or response.status_code}"
        )
    if response.status_code != 200 or not isinstance(body, dict):
        raise PscUnavailable(
            f"Pro Santé Connect indisponible (HTTP {response.status_code}) : réessayez dans un instant.",
            f"{what}: HTTP {response.status_code}",
        )
    access = body.get("access_token")
    if not isinstance(access, str) or not access or str(body.get("token_type", "")).lower() != "bearer":
        raise PscError("Réponse de jetons Pro Santé Connect invalide.", f"{what}: pas de jeton Bearer")
    return TokenSet(
        access_token=access,
        refresh_token=str(body.get("refresh_token") or ""),
        id_token=str(body.get("id_token") or ""),
        expires_in=_int(body.get("expires_in"), 120),
        refresh_expires_in=_int(body.get("refresh_expires_in"), 1800),
        session_state=str(body.get("session_state") or ""),
    )


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def exchange_code(endpoint: PscEndpoint, *, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
    tokens = _token_call(
        endpoint,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        },
        "code",
    )
    if not tokens.id_token:
        raise PscError("Pro Santé Connect n'a pas fourni de jeton d'identité.", "code: id_token absent")
    return tokens


def refresh_tokens(endpoint: PscEndpoint, refresh_token: str) -> TokenSet:
    return _token_call(endpoint, {"grant_type": "refresh_token", "refresh_token": refresh_token}, "refresh")


def _verify_jws(endpoint: PscEndpoint, token: str, what: str) -> dict[str, Any]:
    """The claims of a compact JWS signed by PSC (asymmetric algorithm, key by kid from the JWKS)."""
    if token.count(".") != 2:
        raise PscError("Jeton Pro Santé Connect mal formé.", f"{what}: JWS compact attendu")
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PscError("Jeton Pro Santé Connect illisible.", f"{what}: en-tête illisible") from exc
    if not isinstance(header, dict) or header.get("alg") not in SIGNING_ALGORITHMS:
        alg = header.get("alg") if isinstance(header, dict) else "?"
        raise PscError("Jeton Pro Santé Connect refusé (algorithme).", f"{what}: alg {alg} refusé")
    for reload in (False, True):
        keys = _key_set(endpoint, missing_kid=str(header.get("kid", "")) if reload else None)
        try:
            decoded = jwt.decode(token, keys, algorithms=list(SIGNING_ALGORITHMS))
        except InvalidKeyIdError as exc:
            if not reload:
                continue  # unknown kid: PSC rotated its keys, reload the JWKS
            raise PscError("Signature du jeton Pro Santé Connect invalide.", f"{what}: clé inconnue") from exc
        except JoseError as exc:
            raise PscError(
                "Signature du jeton Pro Santé Connect invalide.", f"{what}: signature ({exc.error})"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise PscError("Jeton Pro Santé Connect illisible.", f"{what}: illisible") from exc
        return dict(decoded.claims)
    raise PscError("Signature du jeton Pro Santé Connect invalide.", f"{what}: clé inconnue")


def _check_time(claims: dict[str, Any], now: float, what: str) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW < now:
        raise PscError("Jeton Pro Santé Connect expiré : recommencez la connexion.", f"{what}: expiré")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and not isinstance(iat, bool) and iat - CLOCK_SKEW > now:
        raise PscError("Jeton Pro Santé Connect émis dans le futur.", f"{what}: iat futur")


def _check_audience(claims: dict[str, Any], client_id: str, what: str) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise PscError("Jeton Pro Santé Connect destiné à une autre application.", f"{what}: audience")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise PscError("Jeton Pro Santé Connect destiné à une autre application.", f"{what}: azp")


def verify_id_token(endpoint: PscEndpoint, id_token: str, *, nonce: str, now: float | None = None) -> dict[str, Any]:
    """OIDC Core §3.1.3.7 for PSC: signature, iss, aud/azp, exp/iat, nonce, acr (eidas1; absent = eidas1)."""
    if id_token.count(".") == 4:
        id_token = _decrypt(endpoint, id_token, "id_token")
    claims = _verify_jws(endpoint, id_token, "id_token")
    if claims.get("iss") != metadata(endpoint)["issuer"]:
        raise PscError("Jeton d'identité émis par un autre fournisseur.", "id_token: iss")
    _check_audience(claims, endpoint.client_id, "id_token")
    _check_time(claims, time.time() if now is None else now, "id_token")
    if not nonce or not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise PscError("Jeton d'identité rejoué ou d'une autre connexion.", "id_token: nonce")
    if claims.get("acr", ACR) != ACR:  # the PSC provider treats a missing acr as eidas1 and refuses any other
        raise PscError("Niveau d'authentification Pro Santé Connect insuffisant.", f"id_token: acr {claims.get('acr')}")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise PscError("Jeton d'identité sans sujet.", "id_token: sub")
    return claims


def _decrypt(endpoint: PscEndpoint, token: str, what: str) -> str:
    """A JWE (five parts) opened with the client's private key; its payload is the signed JWT."""
    if endpoint.userinfo_decryption_key is None:
        raise PscError(
            "Réponse chiffrée de Pro Santé Connect mais aucune clé de déchiffrement n'est configurée "
            "(CADUCEE_PSC_USERINFO_DECRYPTION_KEY).",
            f"{what}: JWE sans clé",
        )
    try:
        key = RSAKey.import_key(endpoint.userinfo_decryption_key.read_bytes())
        return jwe.decrypt_compact(token, key).plaintext.decode()  # type: ignore[union-attr]
    except (JoseError, ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise PscError("Réponse chiffrée de Pro Santé Connect illisible.", f"{what}: JWE illisible") from exc


def fetch_userinfo(endpoint: PscEndpoint, access_token: str, *, subject: str) -> dict[str, Any]:
    """Userinfo as JSON or as a signed (possibly encrypted) JWT; its `sub` must be the ID token's (OIDC §5.3.2)."""
    meta = metadata(endpoint)
    url = str(meta.get("userinfo_endpoint") or "")
    if not url:
        raise PscUnavailable("Point userinfo Pro Santé Connect inconnu.", "userinfo_endpoint absent")
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json, application/jwt"},
            verify=endpoint.verify,
            cert=endpoint.cert,
            timeout=endpoint.timeout,
        )
    except requests.RequestException as exc:
        raise PscUnavailable("Pro Santé Connect ne répond pas (userinfo).", "userinfo: injoignable") from exc
    if response.status_code != 200:
        raise PscError(
            f"Pro Santé Connect refuse de fournir votre identité (HTTP {response.status_code}).",
            f"userinfo: HTTP {response.status_code}",
        )
    if len(response.content) > MAX_RESPONSE:
        raise PscError("Réponse userinfo trop volumineuse.", "userinfo: trop grande")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            claims: Any = response.json()
        except ValueError as exc:
            raise PscError("Réponse userinfo illisible.", "userinfo: JSON illisible") from exc
    elif content_type == "application/jwt":
        token = response.text.strip()
        if token.count(".") == 4:
            token = _decrypt(endpoint, token, "userinfo")
        claims = _verify_jws(endpoint, token, "userinfo")
        if "iss" in claims and claims["iss"] != meta["issuer"]:
            raise PscError("Réponse userinfo d'un autre fournisseur.", "userinfo: iss")
        if "aud" in claims:
            _check_audience(claims, endpoint.client_id, "userinfo")
    else:
        raise PscError("Réponse userinfo d'un type inattendu.", f"userinfo: type {content_type or '?'}")
    if not isinstance(claims, dict) or claims.get("sub") != subject:
        raise PscError("L'identité renvoyée ne correspond pas au jeton d'identité.", "userinfo: sub")
    return claims


def end_session_url(endpoint: PscEndpoint, *, id_token: str, post_logout_redirect_uri: str, state: str) -> str:
    """RP-initiated logout (notes/psc §1.4): PSC ends its session then comes back with `state`; "" if unknown."""
    try:
        base = str(metadata(endpoint).get("end_session_endpoint") or "")
    except PscError:
        return ""
    if not base or not id_token:
        return ""
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri, "state": state}
    return base + ("&" if "?" in base else "?") + urlencode(params)
