"""The sandbox's patients: DMP state per INS (open, closed, none), blocked professionals, identity traits.

Since Mon espace santé the DMP is created for everyone unless the patient objected (opt-out, notes §1.2 TD1.x):
an unknown test INS therefore has an open DMP. `data/dmp_patients.json` lists the exceptions, keyed by the INS
matricule (13 + key) of INSi sandbox personas; identity traits default to the INSi persona's.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caducee.core.oids import INS_OIDS
from caducee.sandbox.dmp.hl7v3 import Traits
from caducee.sandbox.insi import PERSONAS_FILE

DMP_PATIENTS_FILE = Path(__file__).parent / "data" / "dmp_patients.json"


class InsRefused(ValueError):
    """Not a CX INS, or an INS of a production OID (the sandbox, like the DMP test platform, only knows test INS)."""


@dataclass(frozen=True)
class PatientState:
    ins: str
    matricule: str
    exists: bool = True
    closed_on: dt.date | None = None
    closing_reason: str = ""
    blocked: tuple[str, ...] = ()  # national ids, or ("*",) for every professional
    medecin_traitant: tuple[str, ...] = ()
    mes_attached: bool = True
    identity: Traits = field(default_factory=Traits)
    behaviour: str = ""  # slow | receiver_fault | http_503 | garbage | drop_connection
    delay_seconds: float = 15.0

    @property
    def active(self) -> bool:
        return self.exists and self.closed_on is None

    def blocks(self, national_id: str) -> bool:
        return "*" in self.blocked or national_id in self.blocked


def split_cx(ins: str) -> tuple[str, str]:
    """(matricule, OID) of `matricule^^^&OID&ISO^NH`, OID one of the INS authorities (notes §1.3)."""
    parts = ins.split("^")
    authority = parts[3].split("&") if len(parts) > 4 else []
    if len(parts) != 5 or not parts[0] or len(authority) != 3 or authority[2] != "ISO" or parts[4] != "NH":
        raise InsRefused(f"INS attendu sous la forme matricule^^^&OID&ISO^NH : « {ins} ».")
    # Every INS authority is accepted: the INSi sandbox hands out the CNDA test personas under the NIR OID
    # (…4.8), as the INSi test platform does, and the demo seeds them. What keeps sandbox data away from a real
    # service is the product's R28 gate (identity.ins.transmissible_ins), not this stand-in.
    if authority[1] not in INS_OIDS:
        raise InsRefused(
            f"OID d'INS {authority[1]} inconnu : INS-NIR (1.2.250.1.213.1.4.8), INS-NIA (…4.9), INS de test "
            "(…4.10) ou de démonstration (…4.11) attendu."
        )
    if not parts[0].isalnum() or len(parts[0]) != 15:
        raise InsRefused(f"matricule INS invalide (15 caractères attendus) : « {parts[0]} ».")
    return parts[0], authority[1]


def load_patients(path: Path = DMP_PATIENTS_FILE) -> dict[str, dict[str, Any]]:
    """matricule (15) → configuration, with the INSi persona's traits when the file gives none."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    personas = {
        p["matricule"] + p["key"]: p
        for p in json.loads(PERSONAS_FILE.read_text(encoding="utf-8"))["personas"]
        if p.get("matricule") and p.get("key")
    }
    patients: dict[str, dict[str, Any]] = {}
    for matricule, persona in personas.items():
        patients[matricule] = {"traits": _traits_of_persona(persona)}
    for matricule, config in data["patients"].items():
        merged = {**patients.get(matricule, {}), **config}
        if "traits" in config and matricule in patients:
            merged["traits"] = {**patients[matricule]["traits"], **config["traits"]}
        patients[matricule] = merged
    return patients


def _traits_of_persona(persona: dict[str, Any]) -> dict[str, str]:
    given = persona.get("given_name") or (persona.get("given_names") or "").split(" ")[0]
    return {
        "birth_name": persona.get("birth_name", ""),
        "given": given,
        "sex": persona.get("sex", ""),
        "birth_date": (persona.get("birth_date") or "").replace("-", ""),
    }


def state_of(ins: str, config: dict[str, Any] | None) -> PatientState:
    matricule, _ = split_cx(ins)
    config = config or {}
    traits = config.get("traits") or {}
    blocked = config.get("blocked") or ()
    closed = config.get("closed_on")
    return PatientState(
        ins=ins,
        matricule=matricule,
        exists=config.get("dmp", "open") != "none",
        closed_on=dt.date.fromisoformat(closed) if closed else None,
        closing_reason=config.get("closing_reason", ""),
        blocked=("*",) if blocked == "all" else tuple(blocked),
        medecin_traitant=tuple(config.get("medecin_traitant", ())),
        mes_attached=bool(config.get("mes_attached", True)),
        identity=Traits(
            birth_name=traits.get("birth_name", ""),
            used_name=traits.get("used_name", ""),
            given=traits.get("given", ""),
            sex=traits.get("sex", ""),
            birth_date=traits.get("birth_date", ""),
        ),
        behaviour=config.get("behaviour", ""),
        delay_seconds=float(config.get("delay_seconds", 15)),
    )


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus `months` calendar months, clamped to the month's last day (an authorization lasts 6 months)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
