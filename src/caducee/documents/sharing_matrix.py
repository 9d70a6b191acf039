"""The arrêté of 26 April 2022 (art. L. 1111-15 CSP) as data, and the defaults of "Envoyer au DMP" and of the
MSSanté send to the médecin traitant.

Source: ../shared/seeds/001_*.txt, "Arrêté du 26 avril 2022 fixant la liste des documents soumis à l'obligation
prévue à l'article L. 1111-15 du code de la santé publique": for each kind of document, whether it must be put in the
DMP, sent by MSSanté to the other professionals, sent by MSSanté to the patient, and from which date.

Type codes (J07 XdsTypeCode, LOINC 2.16.840.1.113883.6.1) are given where the mapping is unambiguous; rows without a
code (biology prescription, radiology request) are kept for display: Caducée does not produce those documents yet,
and their J07 code will be mapped when it does.

Defaults outside the arrêté (`EXTRA_DEFAULTS`), so the doctor's one click is the right one:
* the medical summary, VSM (J07 SYNTH) or IPS-FR (LOINC 60591-5): the VSM of ALD patients in the DMP is an indicator
  of the forfait structure (ROSP / forfait structure, volet 2 "VSM alimentant le DMP"), so it is pre-ticked;
* the consultation report (LOINC 11488-4): the forfait structure counts the share of consultations that feed a
  document into the DMP (issue 4: "twenty percent of consultations"), and the report is the document of the
  consultation; it is pre-ticked too (the doctor can untick it, and a masked visibility is one click away).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from caducee.core.dates import french_date

LOINC = "2.16.840.1.113883.6.1"
CISIS_TYPES = "1.2.250.1.213.1.1.4.12"


@dataclass(frozen=True)
class MatrixRow:
    label: str
    type_codes: tuple[tuple[str, str], ...]  # (code, code system)
    in_force: dt.date
    # The arrêté's common case: DMP, MSS to the professionals, MSS to the patient; rows state their exceptions.
    dmp: bool = True
    mss_ps: bool = True
    mss_patient: bool = True


ARRETE_2022_04_26: tuple[MatrixRow, ...] = (
    MatrixRow(
        "Compte rendu des examens de biologie médicale (hors séjour hospitalier)",
        (("11502-2", LOINC),),
        dmp=False,
        in_force=dt.date(2022, 11, 1),
    ),
    MatrixRow(
        "Compte rendu des examens radio-diagnostiques (hors séjour hospitalier)",
        (("18748-4", LOINC),),
        in_force=dt.date(2022, 11, 1),
    ),
    MatrixRow(
        "Prescription de produits de santé (hors prescription soumise à entente préalable)",
        (("57833-6", LOINC),),
        in_force=dt.date(2022, 11, 1),
    ),
    MatrixRow(
        "Compte rendu opératoire",
        (("34874-8", LOINC),),
        in_force=dt.date(2023, 1, 1),
    ),
    MatrixRow(
        "Prescription d'examen de biologie médicale (hors séjour hospitalier)",
        (),
        in_force=dt.date(2023, 12, 1),
    ),
    MatrixRow(
        "Demande d'examen de radiologie (hors séjour hospitalier)",
        (),
        in_force=dt.date(2023, 12, 1),
    ),
    MatrixRow(
        "Autres certificats et déclarations (art. R. 4127-76 CSP)",
        (("89601-9", LOINC),),
        in_force=dt.date(2023, 12, 1),
    ),
    MatrixRow(
        "Lettres et courriers adressés à un professionnel de santé (hors séjour hospitalier)",
        (("96349-6", LOINC),),
        in_force=dt.date(2023, 12, 1),
    ),
)

# Pre-ticked although the arrêté does not list them (module docstring says why).
EXTRA_DEFAULTS: dict[tuple[str, str], str] = {
    ("SYNTH", CISIS_TYPES): "Synthèse médicale (VSM) : indicateur du forfait structure",
    ("60591-5", LOINC): "Synthèse médicale (IPS-FR) : indicateur du forfait structure",
    ("11488-4", LOINC): "Compte rendu de consultation : part des consultations alimentant le DMP (forfait structure)",
}


def matrix_row(type_code: str, type_code_system: str) -> MatrixRow | None:
    for row in ARRETE_2022_04_26:
        if (type_code, type_code_system) in row.type_codes:
            return row
    return None


def _in_force(type_code: str, type_code_system: str, on: dt.date, channel: str) -> MatrixRow | None:
    """The arrêté's row for this document when it requires `channel` (dmp, mss_ps, mss_patient) on that date."""
    row = matrix_row(type_code, type_code_system)
    return row if row is not None and getattr(row, channel) and on >= row.in_force else None


def dmp_obligation(type_code: str, type_code_system: str, on: dt.date) -> bool:
    """The arrêté requires this document in the DMP on that date."""
    return _in_force(type_code, type_code_system, on, "dmp") is not None


def dmp_default(type_code: str, type_code_system: str, on: dt.date) -> bool:
    """Pre-tick "Envoyer au DMP" in the validation panel: an obligation in force, or one of `EXTRA_DEFAULTS`."""
    return (type_code, type_code_system) in EXTRA_DEFAULTS or dmp_obligation(type_code, type_code_system, on)


def dmp_default_reason(type_code: str, type_code_system: str, on: dt.date) -> str:
    """Why the box is pre-ticked (shown next to it), or "" when it is not."""
    if (type_code, type_code_system) in EXTRA_DEFAULTS:
        return EXTRA_DEFAULTS[(type_code, type_code_system)]
    row = _in_force(type_code, type_code_system, on, "dmp")
    if row is not None:
        return f"Obligation (arrêté du 26 avril 2022) depuis le {french_date(row.in_force)} : {row.label}"
    return ""


def mss_ps_obligation(type_code: str, type_code_system: str, on: dt.date) -> bool:
    """The arrêté requires this document to be sent by MSSanté to the professionals caring for the patient."""
    return _in_force(type_code, type_code_system, on, "mss_ps") is not None


def mss_patient_obligation(type_code: str, type_code_system: str, on: dt.date) -> bool:
    """The arrêté requires this document to be sent by MSSanté to the patient (Mon espace santé)."""
    return _in_force(type_code, type_code_system, on, "mss_patient") is not None


def mss_patient_default_reason(type_code: str, type_code_system: str, on: dt.date) -> str:
    """Why the patient's own mailbox (Mon espace santé) is pre-ticked, or "" when it must not be (issue 13 §3): only
    when the arrêté's matrix asks for an MSSanté send to the patient for this document on that date — never because
    of `EXTRA_DEFAULTS` (those are DMP defaults), never for a document the arrêté does not list."""
    row = _in_force(type_code, type_code_system, on, "mss_patient")
    if row is None:
        return ""
    return f"Envoi au patient demandé par l'arrêté du 26 avril 2022 depuis le {french_date(row.in_force)} : {row.label}"


def mss_ps_default_reason(type_code: str, type_code_system: str, on: dt.date) -> str:
    """Why the médecin traitant is pre-ticked (the arrêté's column "aux autres PS"), or ""."""
    row = _in_force(type_code, type_code_system, on, "mss_ps")
    if row is None:
        return ""
    since = french_date(row.in_force)
    return f"Envoi aux professionnels demandé par l'arrêté du 26 avril 2022 depuis le {since} : {row.label}"


def mss_to_medecin_traitant_default(type_code: str, type_code_system: str, on: dt.date, *, author_is_mt: bool) -> bool:
    """Pre-tick the médecin traitant as recipient (issue 5 §6, LGC.MSS.03): the arrêté asks for an MSSanté send to
    the professionals and the author is not the médecin traitant (who would be writing to themself)."""
    return not author_is_mt and mss_ps_obligation(type_code, type_code_system, on)
