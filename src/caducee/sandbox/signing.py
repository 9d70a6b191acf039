"""The RSA signing keys of the sandbox's token issuers (the MSS operator's tokens, Pro Santé Connect's JWS).

A key is created once, 0600, next to the issuer's data (`load_or_create_key`), so the tokens a client holds still
verify after a restart; `jose_key` gives it to joserfc with its RFC 7638 thumbprint as `kid`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key at `path`, created (2048 bits, PKCS#8 PEM, 0600) on first use."""
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


def jose_key(private: rsa.RSAPrivateKey | RSAKey) -> RSAKey:
    """`private` as a joserfc signing key: `kid` its RFC 7638 thumbprint (stable across restarts), RS256, sig."""
    key = private if isinstance(private, RSAKey) else RSAKey.import_key(private)
    return RSAKey.import_key(key.as_dict(private=True), {"kid": key.thumbprint(), "use": "sig", "alg": ALGORITHM})
