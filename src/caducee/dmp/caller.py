"""Who calls the DMP: the VIHF subject built from the logged-in professional and the practice.

Sources:
* national id 8 + RPPS / 0 + ADELI: CI-SIS, TRE_G08 (`User.national_id`).
* profession TRE_G15 (10 médecin, 60 infirmier…) and the médecin's savoir-faire TRE_R01/R38 (SM54 médecine générale):
  `User.profession_code` / `User.specialty_code`; a médecin without a profession code is sent as 10.
* `Identifiant_Structure` = Struct_IdNat (mapping.md §"Mapping VIHF pour le DMP"): the structure identifier
  prefixed by its type per TRE_G07 "type d'identifiant structure" (1 = FINESS, 2 = SIREN, 3 = SIRET, 4 = RPPS
  rang) — the same form the CDA header and the XDS authorInstitution carry (1 + FINESS, see dmp.xds._xon).
  FINESS first (the DMP indexes structures by it), SIRET otherwise.
* `Secteur_Activite`: the practice's JDV_J61 / TRE_R02 sector (`Practice.activity_sector`, SA07, SA08…).
* authentication mode: INDIRECTE_RENFORCEE when the user is logged in through Pro Santé Connect (SC.DMP/PSC.01), and
  then the structure and sector of the work situation they chose at login (when PSC gives its FINESS or SIRET);
  INDIRECTE after a local login.
"""

from __future__ import annotations

from caducee.accounts.models import Practice, Role, User
from caducee.accounts.psc.selectors import open_psc_session
from caducee.dmp.api import DmpCaller

PROFESSIONS = {"10": "Médecin", "21": "Pharmacien", "40": "Chirurgien-dentiste", "50": "Sage-femme", "60": "Infirmier"}
SPECIALTIES = {"SM54": "Médecine générale", "SM26": "Qualifié en médecine générale"}


class CallerError(ValueError):
    """The user cannot call the DMP; the message (French) is shown as it is."""


def structure_id(practice: Practice) -> str:
    """Struct_IdNat: 1 + FINESS, else 3 + SIRET (TRE_G07)."""
    if practice.finess:
        return "1" + practice.finess
    if practice.siret:
        return "3" + practice.siret
    raise CallerError(
        "Le cabinet n'a ni FINESS ni SIRET : renseignez-le dans les paramètres du cabinet avant d'utiliser le DMP."
    )


def dmp_caller(user: User, practice: Practice) -> DmpCaller:
    national_id = user.national_id
    if not national_id:
        raise CallerError(
            f"{user.display_name()} n'a pas de numéro RPPS ni ADELI : "
            "seul un professionnel de santé identifié peut utiliser le DMP."
        )
    profession = user.profession_code or ("10" if user.role in (Role.MEDECIN, Role.REMPLACANT) else "")
    if not profession:
        raise CallerError(f"La profession (TRE_G15) de {user.display_name()} n'est pas renseignée.")
    specialty = (user.specialty_code or None) if profession == "10" else None
    name = " ".join(part for part in (user.first_name, user.last_name.upper()) if part) or user.get_username()
    structure, sector, auth_mode = structure_id(practice), practice.activity_sector or "SA07", "INDIRECTE"
    psc = open_psc_session(user)
    if psc is not None:
        auth_mode = "INDIRECTE_RENFORCEE"  # SC.DMP/PSC.01
        situation = psc.work_situation or {}
        if situation.get("finess"):
            structure = "1" + situation["finess"]
        elif situation.get("siret"):
            structure = "3" + situation["siret"]
        sector = situation.get("sector") or sector
    return DmpCaller(
        national_id=national_id,
        name=name,
        profession=profession,
        specialty=specialty,
        structure_id=structure,
        sector=sector,
        auth_mode=auth_mode,
        profession_display=PROFESSIONS.get(profession),
        specialty_display=SPECIALTIES.get(specialty) if specialty else None,
    )
