"""The professionals the PSC sandbox knows: PSC-shaped userinfo records (data/psc_professionals.json).

A record is exactly what userinfo answers (sub, SubjectNameID, preferred_username, given_name, family_name,
SubjectRole, SubjectRefPro{codeCivilite, exercices[…activities[…]]}, Secteur_Activite, …) plus `mss`, the list of
MSSanté addresses the professional holds: the sandbox MSS operator reads it to decide whether a PSC access token
may open a mailbox (SC.MSS/CONF.07); it is never sent to a client.
The national id (`SubjectNameID`) is "8" + RPPS (12 characters) or "0" + ADELI (notes/psc §1.3).
"""

from __future__ import annotations

import copy
import json
import threading
from importlib import resources
from typing import Any

PRIVATE_KEYS = ("mss",)  # what a record carries for the sandbox only, never in userinfo


def default_professionals() -> list[dict[str, Any]]:
    """The sandbox's fictitious professionals (the demo's doctors and nurse, and one without a local account)."""
    text = resources.files("caducee.sandbox").joinpath("data/psc_professionals.json").read_text(encoding="utf-8")
    return list(json.loads(text)["professionals"])


def _check(record: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ValueError("un professionnel PSC est un objet JSON")
    for key in ("sub", "SubjectNameID", "given_name", "family_name", "SubjectRefPro"):
        if not record.get(key):
            raise ValueError(f"professionnel PSC sans {key}")
    mss = record.get("mss", [])
    if not isinstance(mss, list) or not all(isinstance(a, str) for a in mss):
        raise ValueError("mss : liste d'adresses attendue")
    return copy.deepcopy(record)


class Directory:
    """National id → record; thread-safe (tests add professionals while the server runs)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
        for record in records:
            self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        checked = _check(record)
        with self._lock:
            self._records[str(checked["SubjectNameID"])] = checked

    def get(self, national_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._records.get(national_id.strip())
            return copy.deepcopy(found) if found is not None else None

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(r) for r in self._records.values()]

    def userinfo(self, national_id: str) -> dict[str, Any] | None:
        """The claims userinfo answers for this professional (the record without its sandbox-only keys)."""
        record = self.get(national_id)
        if record is None:
            return None
        return {k: v for k, v in record.items() if k not in PRIVATE_KEYS}

    def owners_of(self, address: str) -> set[str]:
        """The national ids of the professionals holding the MSSanté address `address`."""
        wanted = address.strip().lower()
        with self._lock:
            return {
                nid
                for nid, record in self._records.items()
                if any(str(a).strip().lower() == wanted for a in record.get("mss", []))
            }

    def mailbox_owners(self) -> dict[str, set[str]]:
        """Every address → the national ids holding it."""
        owners: dict[str, set[str]] = {}
        with self._lock:
            for nid, record in self._records.items():
                for address in record.get("mss", []):
                    owners.setdefault(str(address).strip().lower(), set()).add(nid)
        return owners


def display_name(record: dict[str, Any]) -> str:
    exercices = record.get("SubjectRefPro", {}).get("exercices") or [{}]
    civility = "Dr " if exercices[0].get("codeCiviliteDexercice") == "DR" else ""
    return f"{civility}{record.get('given_name', '')} {record.get('family_name', '')}".strip()


def profession_label(record: dict[str, Any]) -> str:
    code = (record.get("SubjectRefPro", {}).get("exercices") or [{}])[0].get("codeProfession", "")
    return {
        "10": "Médecin",
        "21": "Pharmacien",
        "40": "Chirurgien-dentiste",
        "50": "Sage-femme",
        "60": "Infirmier",
    }.get(str(code), f"Profession {code}")
