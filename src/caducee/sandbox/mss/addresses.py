"""Who is a mailbox in the sandbox operator, and the fault-injection local parts.

- Any address in a `*.mssante.fr` domain is a mailbox, created on first use (the "espace de confiance":
  other domains are refused at RCPT, as the real operators do).
- `<13 digits + 2-digit key>@patient.mssante.fr` are patient (Mon espace santé) mailboxes (SC.MSS.14);
  another local part in that domain does not exist.
- Local part `inconnu.*` → unknown user (a DSN failure 5.1.1); `lent.*` → delivery delayed.
"""

from __future__ import annotations

import re

PATIENT_DOMAIN = "patient.mssante.fr"
TRUST_SUFFIX = ".mssante.fr"
_PATIENT_LOCAL = re.compile(r"^\d{15}$")
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,190}$")

KIND_PRO = "pro"
KIND_PATIENT = "patient"


def normalize(address: str) -> str:
    """Addresses compare case-insensitively in the sandbox (local parts of MSSanté addresses are lower case)."""
    return address.strip().strip("<>").strip().lower()


def is_valid(address: str) -> bool:
    return bool(_ADDRESS.match(address)) and ".." not in address


def in_trust_space(address: str) -> bool:
    """The address is in an MSSanté domain (`*.mssante.fr`)."""
    address = normalize(address)
    return is_valid(address) and address.rsplit("@", 1)[1].endswith(TRUST_SUFFIX)


def is_patient(address: str) -> bool:
    return normalize(address).rsplit("@", 1)[-1] == PATIENT_DOMAIN


def unknown_reason(address: str) -> str:
    """Why this MSSanté address is no mailbox ("" when it is one)."""
    address = normalize(address)
    local, _, domain = address.partition("@")
    if local.startswith("inconnu."):
        return "Destinataire inconnu (boîte aux lettres inexistante)."
    if domain == PATIENT_DOMAIN and not _PATIENT_LOCAL.match(local):
        return "Adresse patient invalide : le matricule INS (15 chiffres) est attendu."
    return ""


def is_slow(address: str) -> bool:
    return normalize(address).startswith("lent.")


def kind_of(address: str) -> str:
    return KIND_PATIENT if is_patient(address) else KIND_PRO
