"""Sealing of secrets kept at rest: PSC tokens (the worker needs them), TOTP secrets.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a key derived by HKDF from SECRET_KEY — which comes
from the environment, a file, or is generated once 0600 in the data directory (`config/env.py`). A database dump
alone therefore reveals no token nor TOTP secret. Rotating SECRET_KEY makes sealed values unreadable: PSC sessions
then end (the user logs in again) and TOTP must be enrolled again; `unseal` raises `SealError` for that case.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SealError(Exception):
    """A sealed value cannot be opened (other key, altered value)."""


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"caducee.core.crypto.seal").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str) -> str:
    """`value` encrypted and authenticated; the empty string stays empty."""
    if not value:
        return ""
    return _fernet(settings.SECRET_KEY).encrypt(value.encode()).decode("ascii")


def unseal(sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return _fernet(settings.SECRET_KEY).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SealError("Valeur scellée illisible (clé changée ou donnée altérée).") from exc
