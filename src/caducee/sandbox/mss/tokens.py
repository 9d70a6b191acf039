"""Access tokens of the sandbox operator: JWT RS256, standing for Pro Santé Connect's until issue 6 (SC.MSS/CONF.07).

Signing, verifying and the time claims are joserfc's (JWS/JWT, RFC 7515/7519); this module holds the operator's
policy. The signing key is the sandbox's own (an RSA key created once next to the operator's database, 0600,
`sandbox/signing.py`);
a token carries `iss`, `sub`, `mailbox`, `iat`, `exp` (and a `jti`). XOAUTH2 is accepted only when the
signature verifies with that key, the token has not expired and its `mailbox` claim is the SASL `user=`.
`iss` (the web URL) is not compared: the key survives a restart of the operator on other ports, and so do
the tokens a client holds (they expire within two minutes anyway).
The token itself is never logged nor stored (CONF.28 on the client side; the operator does the same).

Since issue 6 the operator also accepts Pro Santé Connect access tokens (`PscTokenVerifier`): RS256 by a key of
PSC's JWKS (chosen by `kid`, reloaded once when the kid is unknown: PSC rotated its keys), PSC's issuer, not expired,
`mssante` among the audiences and a `SubjectNameID`; who may open which mailbox is the Authenticator's business.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet, RSAKey

from caducee.sandbox.mss.addresses import normalize
from caducee.sandbox.signing import ALGORITHM, jose_key, load_or_create_key

TOKEN_LIFETIME = 120  # seconds, as announced in the token answer's expires_in
MAX_TOKEN_LENGTH = 8192
CLOCK_SKEW = 5  # seconds of tolerance on exp / iat


class TokenRejected(Exception):
    """The token is refused; `reason` is short, loggable and never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign_jwt(claims: dict[str, Any], key: rsa.RSAPrivateKey | RSAKey, *, kid: str = "") -> str:
    """A compact JWS (RS256) of `claims`, `kid` in its header when given."""
    header = {"alg": ALGORITHM, "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_key = key if isinstance(key, RSAKey) else RSAKey.import_key(key)
    return jose_jwt.encode(header, claims, signing_key, algorithms=[ALGORITHM])


def _header(token: str, *, name: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, unverified (to check its alg and pick its key)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenRejected(f"jeton{name} mal formé (JWS compact attendu)")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise TokenRejected(f"jeton{name} illisible") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenRejected("algorithme de signature refusé (RS256 attendu)")
    return header


def _decode(token: str, key: RSAKey | KeySet, *, name: str) -> dict[str, Any]:
    """The claims of a JWS whose RS256 signature verifies with `key`."""
    try:
        return dict(jose_jwt.decode(token, key, algorithms=[ALGORITHM]).claims)
    except UnsupportedAlgorithmError as exc:
        raise TokenRejected("algorithme de signature refusé (RS256 attendu)") from exc
    except BadSignatureError as exc:
        raise TokenRejected(f"signature du jeton{name} invalide") from exc
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise TokenRejected(f"jeton{name} illisible") from exc


def _check_times(claims: dict[str, Any], *, now: float | None, name: str) -> None:
    """`exp` present and not passed, `iat` not in the future, CLOCK_SKEW seconds of tolerance (RFC 7519 §4.1)."""
    current = int(time.time() if now is None else now)
    registry = jose_jwt.JWTClaimsRegistry(now=current, leeway=CLOCK_SKEW, exp={"essential": True})
    try:
        registry.validate(claims)
    except (ExpiredTokenError, MissingClaimError) as exc:
        raise TokenRejected(f"jeton{name} expiré") from exc
    except InvalidClaimError as exc:
        if exc.claim == "exp":
            raise TokenRejected(f"jeton{name} expiré") from exc
        if exc.claim == "iat":
            raise TokenRejected(f"jeton{name} émis dans le futur") from exc
        raise TokenRejected(f"jeton{name} illisible ({exc.claim})") from exc


class TokenIssuer:
    """Issues and verifies the operator's tokens (joserfc, RS256)."""

    def __init__(self, key_path: Path, issuer: str = "") -> None:
        self.key = jose_key(load_or_create_key(key_path))
        self.issuer = issuer
        self.kid = str(self.key.kid)

    def issue(self, mailbox: str, *, lifetime: int = TOKEN_LIFETIME, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "sub": normalize(mailbox),
            "mailbox": normalize(mailbox),
            "iat": issued,
            "exp": issued + lifetime,
            "jti": secrets.token_urlsafe(12),
        }
        return sign_jwt(claims, self.key, kid=self.kid)

    def verify(self, token: str, *, mailbox: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid token for `mailbox`; TokenRejected otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("jeton absent ou trop long")
        _header(token, name="")
        claims = _decode(token, self.key, name="")
        _check_times(claims, now=now, name="")
        claimed = claims.get("mailbox")
        if not isinstance(claimed, str) or normalize(claimed) != normalize(mailbox):
            raise TokenRejected("le jeton n'est pas celui de cette boîte aux lettres")
        return claims


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS without any check (to route it to the right verifier); {} when unreadable."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return {}
    try:
        claims = json.loads(jws.extract_compact(token.encode("ascii")).payload or b"")
    except (JoseError, ValueError, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwks_from_url(url: str, *, ca: Path | None = None, timeout: float = 10.0) -> Callable[[], dict[str, Any]]:
    """A JWKS loader fetching `url` over HTTPS (verified with `ca`, else the system store) at each call."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)

    def load() -> dict[str, Any]:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as answer:  # noqa: S310 - https JWKS URL
            body = json.loads(answer.read(1_000_000))
        if not isinstance(body, dict):
            raise ValueError("JWKS illisible")
        return body

    return load


class PscTokenVerifier:
    """Checks Pro Santé Connect access tokens for XOAUTH2 (SC.MSS/CONF.07).

    `jwks` gives PSC's public key set: in process (`PscSandbox.jwks`) or fetched (`jwks_from_url`). It is cached
    and asked again, at most every `reload_interval` seconds, when a token names a kid the cache does not hold."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks: Callable[[], dict[str, Any]],
        audience: str = "mssante",
        reload_interval: float = 1.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._load = jwks
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._loaded_at = 0.0
        self.reload_interval = reload_interval

    def handles(self, token: str) -> bool:
        """Whether the token says it comes from this PSC (then only this verifier may accept it)."""
        return unverified_claims(token).get("iss") == self.issuer

    def _key_set(self, kid: str) -> KeySet:
        with self._lock:
            stale = self._keys is None or (
                kid not in {k.kid for k in self._keys.keys}
                and time.monotonic() - self._loaded_at >= self.reload_interval
            )
            if stale:
                try:
                    self._keys = KeySet.import_key_set(self._load())  # type: ignore[arg-type]
                except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
                    raise TokenRejected("clés de Pro Santé Connect indisponibles (JWKS)") from exc
                self._loaded_at = time.monotonic()
            assert self._keys is not None
            return self._keys

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid PSC access token; TokenRejected otherwise (reasons name PSC)."""
        kid = str(_header(token, name=" PSC").get("kid", ""))
        keys = self._key_set(kid)
        if kid not in {k.kid for k in keys.keys}:
            raise TokenRejected("clé de signature inconnue de Pro Santé Connect (kid)")
        claims = _decode(token, keys, name=" PSC")
        if claims.get("iss") != self.issuer:
            raise TokenRejected("jeton d'un autre émetteur que Pro Santé Connect")
        _check_times(claims, now=now, name=" PSC")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise TokenRejected(f"jeton PSC non destiné à la messagerie (aud sans {self.audience})")
        subject = claims.get("SubjectNameID")
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("jeton PSC sans SubjectNameID")
        return claims
