"""The professional described by PSC's userinfo, and their work situations (notes/psc §1.3).

`SubjectNameID` is the national identifier: "8" + RPPS (12 characters) or "0" + ADELI; sandbox test identities may
carry another form (EDIT). PSC has no notion of profile: it sends every `exercice` (profession, specialty) and, in
each, every `activité` (where and how the professional works); the user picks one at login (the DRIMbox DB/CO.49
wording: "sélectionner sa situation d'exercice à partir de celles présentes dans le jeton User Info").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# TRE_R02 secteur d'activité labels for the sectors a practice meets most (the others show their code).
SECTOR_LABELS = {
    "SA01": "Établissement public de santé",
    "SA05": "Centre de santé",
    "SA07": "Cabinet individuel",
    "SA08": "Cabinet de groupe",
    "SA09": "Exercice en société",
    "SA25": "Laboratoire de biologie médicale",
}
MODE_LABELS = {"L": "libéral", "S": "salarié", "B": "bénévole"}


@dataclass(frozen=True)
class WorkSituation:
    """One activité of one exercice: what the session acts as."""

    key: str  # stable index "e<exercice>-a<activité>" within this userinfo
    profession_code: str  # TRE_G15 (10 médecin, 60 infirmier…)
    specialty_code: str  # codeSavoirFaire (SM54…)
    mode: str  # codeModeExercice
    sector: str  # codeSecteurDactivite (TRE_R02)
    organization: str  # raisonSocialeSite or enseigneCommercialeSite
    finess: str
    siret: str
    structure_id: str  # identifiantTechniqueDeLaStructure
    postal_code: str

    @property
    def label(self) -> str:
        sector = SECTOR_LABELS.get(self.sector, self.sector)
        mode = MODE_LABELS.get(self.mode, self.mode)
        place = f" ({self.postal_code})" if self.postal_code else ""
        return f"{self.organization or sector}{place} — {sector}, {mode}".strip()

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "label": self.label}


@dataclass(frozen=True)
class PscIdentity:
    sub: str
    national_id: str
    given_name: str
    family_name: str
    situations: tuple[WorkSituation, ...]

    @property
    def rpps(self) -> str:
        """The RPPS when the national id is one ("8" + 11 digits), else ""."""
        nid = self.national_id
        return nid[1:] if len(nid) == 12 and nid.startswith("8") and nid.isdigit() else ""

    @property
    def adeli(self) -> str:
        nid = self.national_id
        return nid[1:] if len(nid) == 10 and nid.startswith("0") and nid.isdigit() else ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def identity_from_userinfo(userinfo: dict[str, Any]) -> PscIdentity:
    """Read the claims PSC sends; absent or malformed parts give empty values, never an exception."""
    national_id = _text(userinfo.get("SubjectNameID")) or _text(userinfo.get("preferred_username"))
    situations: list[WorkSituation] = []
    ref_pro = userinfo.get("SubjectRefPro")
    exercices = ref_pro.get("exercices") if isinstance(ref_pro, dict) else None
    for e_index, exercice in enumerate(exercices if isinstance(exercices, list) else []):
        if not isinstance(exercice, dict):
            continue
        activities = exercice.get("activities")
        for a_index, activity in enumerate(activities if isinstance(activities, list) else []):
            if not isinstance(activity, dict):
                continue
            situations.append(
                WorkSituation(
                    key=f"e{e_index}-a{a_index}",
                    profession_code=_text(exercice.get("codeProfession")),
                    specialty_code=_text(exercice.get("codeSavoirFaire")),
                    mode=_text(activity.get("codeModeExercice")),
                    sector=_text(activity.get("codeSecteurDactivite")),
                    organization=_text(activity.get("raisonSocialeSite"))
                    or _text(activity.get("enseigneCommercialeSite")),
                    finess=_text(activity.get("numeroFinessSite")),
                    siret=_text(activity.get("numeroSiretSite")),
                    structure_id=_text(activity.get("identifiantTechniqueDeLaStructure")),
                    postal_code=_text(activity.get("codePostal")),
                )
            )
    return PscIdentity(
        sub=_text(userinfo.get("sub")),
        national_id=national_id,
        given_name=_text(userinfo.get("given_name")),
        family_name=_text(userinfo.get("family_name")),
        situations=tuple(situations),
    )
