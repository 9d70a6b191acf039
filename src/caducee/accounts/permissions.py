"""Role-based access (issue 6 §2), checked in services (`check_permission`), not only in views.

The matrix, role by role, with the reason for each choice (docs/security.md shows the same table):

- **Médecin**: everything clinical, including the documents of confidentiality R/V (CI-SIS confidentialityCode
  "restreint" / "très restreint"), and the front desk (identities, administrative data).
- **Remplaçant**: the same as the médecin he replaces — he works under his own identity, with the same
  responsibility (Code de la santé publique, R4127-65/66), so nothing of the record may be hidden from him.
- **Interne**: reads and writes the clinical record (notes, consultations, prescriptions, letters, DMP/MSS sends)
  under the senior's responsibility (interne en stage ambulatoire: he prescribes under supervision), but does not
  open R/V documents unless he wrote them: those are reserved to the doctors in charge.
- **Paramédical** (infirmier, kinésithérapeute…): sees what the care team shares — the structured record and the
  documents of confidentiality N — writes nothing in the medical record. Front desk: in an MSP every professional
  may register a patient and take part in identity vigilance (INS guide: whoever collects an identity checks it).
- **Assistant médical**: the same as the paramédical (prepares the consultation, reads the shared record).
- **Secrétaire**: the front desk only — patients, identities (INSi, documents d'identité), identity vigilance — and
  never any clinical content (no record, no document, no DMP, no MSSanté message).
- **Administrateur**: the practice's settings and the audit trail (who opened which chart); he opens no patient
  record at all (no PATIENT_ADMIN): reading the trail names patients by number, never shows their data.

Document confidentiality (R/V) is checked by `can_read_confidentiality` (documents selectors and views use it);
a refusal is audited with outcome "refused" by the caller.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied

from caducee.accounts.models import Role


class Perm(StrEnum):
    PATIENT_ADMIN = "patient.admin"  # create patients, edit contact/Vitale/administrative data
    IDENTITY_MANAGE = "identity.manage"  # edit traits, call INSi, validate a high-trust document
    IDENTITY_VIGILANCE = "identity.vigilance"  # identity-vigilance work list
    CLINICAL_READ = "clinical.read"  # the record, documents of confidentiality N, DMP, MSSanté messages
    # Documents of confidentiality R (restreint) or V (très restreint), their PDF and CDA (CI-SIS confidentialityCode).
    CLINICAL_RESTRICTED_READ = "clinical.restricted_read"
    CLINICAL_WRITE = "clinical.write"
    AUDIT_READ = "audit.read"
    PRACTICE_MANAGE = "practice.manage"


_FRONT_DESK = frozenset({Perm.PATIENT_ADMIN, Perm.IDENTITY_MANAGE, Perm.IDENTITY_VIGILANCE})
_SHARED_RECORD = _FRONT_DESK | {Perm.CLINICAL_READ}
_SENIOR = _SHARED_RECORD | {Perm.CLINICAL_WRITE, Perm.CLINICAL_RESTRICTED_READ}

ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.MEDECIN: frozenset(_SENIOR),
    Role.REMPLACANT: frozenset(_SENIOR),
    Role.INTERNE: frozenset(_SHARED_RECORD | {Perm.CLINICAL_WRITE}),
    Role.PARAMEDICAL: frozenset(_SHARED_RECORD),
    Role.ASSISTANT: frozenset(_SHARED_RECORD),
    Role.SECRETAIRE: frozenset(_FRONT_DESK),
    Role.ADMINISTRATEUR: frozenset({Perm.AUDIT_READ, Perm.PRACTICE_MANAGE}),
}

# Confidentiality codes (HL7 v3 Confidentiality, CI-SIS J58) that only CLINICAL_RESTRICTED_READ (or the author) opens.
RESTRICTED_CONFIDENTIALITY = frozenset({"R", "V"})


def has_permission(user: Any, perm: Perm) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return perm in ROLE_PERMISSIONS.get(user.role, frozenset())


def check_permission(user: Any, perm: Perm) -> None:
    if not has_permission(user, perm):
        raise PermissionDenied(f"Action non autorisée pour ce profil ({perm}).")


def can_read_confidentiality(user: Any, confidentiality: str, author_id: int | None = None) -> bool:
    """Whether `user` may open a clinical document of this confidentiality code: N with CLINICAL_READ; R/V with
    CLINICAL_RESTRICTED_READ, or when the user is the document's author (an interne reads back what he wrote)."""
    if not has_permission(user, Perm.CLINICAL_READ):
        return False
    if confidentiality not in RESTRICTED_CONFIDENTIALITY:
        return True
    if has_permission(user, Perm.CLINICAL_RESTRICTED_READ):
        return True
    return author_id is not None and author_id == getattr(user, "pk", None)
