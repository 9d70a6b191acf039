"""Access tokens of the sandbox operator: JWT RS256, standing for Pro Santé Connect's until issue 6 (SC.MSS/CONF.07).

The signing key is the sandbox's own (an RSA key created once next to the operator's database, 0600);
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

import base64
import binascii
import hashlib
import json
import os
import secrets
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from caducee.sandbox.mss.addresses import normalize

TOKEN_LIFETIME = 120  # seconds, as announced in the token answer's expires_in
MAX_TOKEN_LENGTH = 8192
CLOCK_SKEW = 5  # seconds of tolerance on exp / iat


class TokenRejected(Exception):
    """The token is refused; `reason` is short, loggable and never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The operator's signing key, created 0600 on first use."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path.name} : clé RSA attendue")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)  # two processes starting at once: one key wins, both read it back
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def sign_jwt(claims: dict[str, Any], key: rsa.RSAPrivateKey, *, kid: str = "") -> str:
    header = {"alg": "RS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


class TokenIssuer:
    """Issues and verifies the operator's tokens."""

    def __init__(self, key_path: Path, issuer: str = "") -> None:
        self.key = load_or_create_key(key_path)
        self.issuer = issuer
        public = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(public).hexdigest()[:16]

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
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenRejected("jeton mal formé (JWS compact attendu)")
        try:
            header = json.loads(_unb64url(parts[0]))
            claims = json.loads(_unb64url(parts[1]))
            signature = _unb64url(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise TokenRejected("jeton illisible") from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenRejected("jeton illisible")
        if header.get("alg") != "RS256":
            raise TokenRejected("algorithme de signature refusé (RS256 attendu)")
        try:
            self.key.public_key().verify(
                signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, UnicodeEncodeError) as exc:
            raise TokenRejected("signature du jeton invalide") from exc
        current = time.time() if now is None else now
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW < current:
            raise TokenRejected("jeton expiré")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and not isinstance(iat, bool) and iat - CLOCK_SKEW > current:
            raise TokenRejected("jeton émis dans le futur")
        claimed = claims.get("mailbox")
        if not isinstance(claimed, str) or normalize(claimed) != normalize(mailbox):
            raise TokenRejected("le jeton n'est pas celui de cette boîte aux lettres")
        return claims


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS without any check (to route it to the right verifier); {} when unreadable."""
    parts = token.split(".") if token and len(token) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(_unb64url(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
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
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenRejected("jeton PSC mal formé (JWS compact attendu)")
        try:
            header = json.loads(_unb64url(token.split(".")[0]))
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise TokenRejected("jeton PSC illisible") from exc
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise TokenRejected("algorithme de signature refusé (RS256 attendu)")
        kid = str(header.get("kid", ""))
        keys = self._key_set(kid)
        if kid not in {k.kid for k in keys.keys}:
            raise TokenRejected("clé de signature inconnue de Pro Santé Connect (kid)")
        try:
            claims = dict(jose_jwt.decode(token, keys, algorithms=["RS256"]).claims)
        except JoseError as exc:
            raise TokenRejected("signature du jeton PSC invalide") from exc
        except (ValueError, TypeError) as exc:
            raise TokenRejected("jeton PSC illisible") from exc
        if claims.get("iss") != self.issuer:
            raise TokenRejected("jeton d'un autre émetteur que Pro Santé Connect")
        current = time.time() if now is None else now
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW < current:
            raise TokenRejected("jeton PSC expiré")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and not isinstance(iat, bool) and iat - CLOCK_SKEW > current:
            raise TokenRejected("jeton PSC émis dans le futur")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise TokenRejected(f"jeton PSC non destiné à la messagerie (aud sans {self.audience})")
        subject = claims.get("SubjectNameID")
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("jeton PSC sans SubjectNameID")
        return claims
