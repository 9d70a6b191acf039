"""The structure's signature key (VIHF and XAdES), loaded once per PEM.

Loading an RSA private key with `cryptography` checks it (about 50 ms for 2048 bits here), far more than signing
with it (about 1 ms): every DMP call signs a VIHF, so the loaded key is kept.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class SigningKeyError(ValueError):
    """The signature key is not an RSA private key."""


@functools.lru_cache(maxsize=8)
def rsa_signing_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError("la clé de signature doit être une clé RSA.")
    return key
