"""R28 — the single gate deciding whether a matricule INS may leave the system.

Every export (CDA header, DMP metadata, MSSanté patient address, X-MSS-INS, HL7/FHIR) calls
`transmissible_ins`; nothing else reads `Identity.ins_matricule` for sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from caducee.core.errors import SandboxDataError
from caducee.core.oids import NON_PRODUCTION_INS_OIDS
from caducee.identity.models import Identity, Status


@dataclass(frozen=True)
class TransmissibleIns:
    matricule: str  # 15 characters (13 + key)
    oid: str


def transmissible_ins(identity: Identity) -> TransmissibleIns | None:
    """The INS to transmit, or None: only a QUAL identity's INS leaves the system (R28).

    R25: a doubtful or fictitious identity is PROV, so it never gets here with an INS.
    A production practice on real services refuses identities obtained from the sandbox or carrying a
    test/demo OID; a sandbox run, or a practice flagged as holding sandbox data (demo), keeps them as the
    test data they are (its documents can never reach a real service: accounts.services guards that).
    """
    if identity.status != Status.QUAL or not identity.ins_matricule or not identity.ins_oid:
        return None
    if identity.is_doubtful or identity.is_fictitious:
        return None
    if (identity.from_sandbox or identity.ins_oid in NON_PRODUCTION_INS_OIDS) and not _test_context():
        raise SandboxDataError(
            "Cette identité provient du bac à sable ou d'un jeu de test : elle ne peut pas être envoyée "
            "à un service national réel."
        )
    return TransmissibleIns(matricule=identity.ins_matricule, oid=identity.ins_oid)


def _test_context() -> bool:
    from caducee.accounts.models import Practice

    return settings.SANDBOX or Practice.objects.filter(is_sandbox=True).exists()
