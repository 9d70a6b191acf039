"""The PSC sandbox's signing keys: RSA 2048, RS256, published as a JWKS with a `kid` per key.

The current key lives 0600 at `keys_path` (created by `sandbox/signing.py`'s `load_or_create_key`), so tokens
signed before a restart still verify after it. `rotate()` makes a new key the signing one (written to
`keys_path` in place of the old) while the old public key stays in the JWKS until dropped: a client that cached
the JWKS must reload it when it meets an unknown `kid` (what keycloak-prosanteconnect does, notes/psc §1.6).
The `kid` is the key's RFC 7638 thumbprint: stable across restarts, different for every key.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from caducee.sandbox.signing import ALGORITHM, jose_key, load_or_create_key


class TokenInvalid(Exception):
    """A JWS of this sandbox that does not verify; `reason` is short and never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyRing:
    """The signing key and the keys still published (newest first); thread-safe."""

    def __init__(self, keys_path: Path) -> None:
        self.path = Path(keys_path)
        self._lock = threading.Lock()
        self._current = jose_key(load_or_create_key(self.path))
        self._published: list[RSAKey] = [self._current]

    @property
    def kid(self) -> str:
        return str(self._current.kid)

    def kids(self) -> list[str]:
        with self._lock:
            return [str(key.kid) for key in self._published]

    def rotate(self, *, drop_old: bool = False) -> str:
        """A new key signs from now on (and is kept at `keys_path`); the old ones stay published unless `drop_old`.
        Returns the new kid."""
        with self._lock:
            previous = self.path.with_name(self.path.name + ".old")
            self.path.replace(previous)
            try:
                fresh = jose_key(load_or_create_key(self.path))  # a new 0600 key at the same place
            finally:
                previous.unlink(missing_ok=True)
            self._current = fresh
            self._published = [fresh] if drop_old else [fresh, *self._published]
            return str(fresh.kid)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (what `certs` answers)."""
        with self._lock:
            return {"keys": [key.as_dict(private=False) for key in self._published]}

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        with self._lock:
            key = self._current
        return jwt.encode({"alg": ALGORITHM, "typ": typ, "kid": key.kid}, claims, key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a JWS signed by one of the published keys (no time check here); TokenInvalid otherwise."""
        if not token or token.count(".") != 2 or len(token) > 16384:
            raise TokenInvalid("jeton mal formé (JWS compact attendu)")
        with self._lock:
            keys = KeySet(list(self._published))
        try:
            decoded = jwt.decode(token, keys, algorithms=[ALGORITHM])
        except JoseError as exc:
            raise TokenInvalid(f"signature invalide ou clé inconnue ({exc.error})") from exc
        except (ValueError, TypeError) as exc:
            raise TokenInvalid("jeton illisible") from exc
        return dict(decoded.claims)
