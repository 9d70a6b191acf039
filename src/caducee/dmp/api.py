"""The DMPi client's contract: who calls, what comes back, what can go wrong.

`caducee.dmp.client.DmpClient` implements it over the wire (SOAP 1.2 + WS-Addressing + VIHF, mutual TLS);
`caducee.sandbox.dmp` is the national service's stand-in that speaks the same protocol; the product
(`caducee.dmp.services`) only ever sees these types. Wire shapes are in docs/dmp.md.

Errors carry a French message shown to the user as it is. `DmpUnavailable` (network, TLS, timeout, HTTP 5xx,
SOAP Receiver fault) is worth retrying; `DmpRejected` (ebRS error, SOAP Sender fault, VIHF refused, patient
opposed / DMP closed) is not; `DmpInvalidResponse` (unparseable or hostile answer) is treated as transient by
the outbox but shown as an anomaly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from caducee.documents.xds import SubmissionInfo, XdsDocumentEntry
from caducee.documents.xds_codes import XdsCode

# Actions of the TD0.3 setAuthorization message (urn:si-dmp-habilitations).
AUTHORIZATION_ADD = "AJOUT"
AUTHORIZATION_REMOVE = "SUPPRESSION"

# XDS availability statuses (ITI TF-3 §4.2.3.2.1 + DMP extensions, notes §1.2 TD3.3c/d).
STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
STATUS_DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
STATUS_ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
STATUS_DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"


@dataclass(frozen=True)
class DmpCaller:
    """The professional on whose behalf the call is made: everything the VIHF needs about them.

    `auth_mode` is INDIRECTE for a local login, INDIRECTE_RENFORCEE after Pro Santé Connect (SC.DMP/PSC.01),
    DIRECTE with a CPS card. `secret_connection` asks for the patient's secret connection (VIHF
    confidentiality-code attribute).
    """

    national_id: str  # 8 + RPPS, 0 + ADELI (VIHF Subject/NameID)
    name: str  # "Prénom NOM" (subject-id)
    profession: str  # TRE_G15 code (10 = médecin)
    specialty: str | None  # TRE_R01 savoir-faire (SM54…) for médecins, else None
    structure_id: str  # Identifiant_Structure (FINESS / SIRET prefixed per TRE_G07)
    sector: str  # JDV_J61 / TRE_R02 code, e.g. SA07
    auth_mode: str = "INDIRECTE"
    secret_connection: bool = False
    profession_display: str | None = None
    specialty_display: str | None = None


@dataclass(frozen=True)
class DmpIdentity:
    """Identity traits the DMP holds (TD0.2 answer): compared with ours, never displayed (RG_0320)."""

    birth_name: str = ""
    used_name: str = ""
    given: str = ""
    sex: str = ""  # M / F / U
    birth_date: str = ""  # YYYYMMDD


@dataclass(frozen=True)
class DmpPatientStatus:
    """TD0.2: does the patient have a DMP, is it open, may this professional consult it."""

    ins: str  # CX matricule^^^&OID&ISO^NH as queried
    exists: bool
    active: bool  # EF_DMP12_01: open (False when closed or unknown)
    authorization: str  # EF_DMP04_01: VALIDE, EXPIREE, ABSENTE, INTERDITE (professional blocked by the patient)
    authorization_until: dt.date | None = None
    closed_on: dt.date | None = None
    closing_reason: str = ""
    medecin_traitant: bool = False  # EF_DMP01_07 "médecin traitant DMP"
    mes_attached: bool = False  # rattaché à Mon espace santé
    identity: DmpIdentity = field(default_factory=DmpIdentity)

    @property
    def may_consult(self) -> bool:
        return self.exists and self.active and self.authorization == "VALIDE"


@dataclass(frozen=True)
class DmpDocument:
    """A DocumentEntry as the registry returns it (ITI-18)."""

    entry_uuid: str  # urn:uuid:… assigned by the registry; changes with every metadata version
    unique_id: str  # CDA id root^extension, stable
    logical_id: str  # stable across metadata versions
    repository_unique_id: str
    status: str  # STATUS_* above
    title: str
    type_code: XdsCode
    class_code: XdsCode
    format_code: XdsCode
    confidentiality: tuple[str, ...]  # N/R/V then MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX
    author_person: str  # XCN as sent
    author_institution: str  # XON as sent
    creation_time: str  # XDS DTM
    service_start_time: str
    submission_time: str  # of its submission set (registry slot, DTM)
    mime_type: str
    hash: str
    size: int
    version: int = 1

    @property
    def author_national_id(self) -> str:
        return self.author_person.split("^", 1)[0]


@dataclass(frozen=True)
class DmpSubmitResult:
    submission_set_unique_id: str
    document_unique_ids: tuple[str, ...]
    already_registered: bool = False  # every uniqueId was already in the registry: idempotent resend


class DmpError(Exception):
    """Base of the DMP client's errors; the message is French and shown as it is."""

    code: str = ""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class DmpUnavailable(DmpError):
    """Network, TLS, timeout, HTTP 5xx or SOAP Receiver fault: retry later."""


class DmpRejected(DmpError):
    """The DMP refused the request (ebRS RegistryError, Sender fault, VIHF refused, opposition…)."""


class DmpInvalidResponse(DmpError):
    """The answer could not be understood (malformed, hostile, wrong namespace, too large)."""


class DmpApi(Protocol):
    """What the product asks of the DMP. Every call is made for one professional (`caller`) and, except
    `update_*`/`retrieve` which name the document, one patient (`ins`, a CX `matricule^^^&OID&ISO^NH`)."""

    def test_existence(self, caller: DmpCaller, ins: str) -> DmpPatientStatus:
        """TD0.2 (PRPA_IN201307UV02, reasonCode TEST_EXST)."""
        ...

    def set_authorization(self, caller: DmpCaller, ins: str, action: str = AUTHORIZATION_ADD) -> DmpPatientStatus:
        """TD0.3: add (or remove) this professional's authorization; returns the status after the change."""
        ...

    def provide_and_register(
        self,
        caller: DmpCaller,
        entries: Sequence[XdsDocumentEntry],
        submission: SubmissionInfo,
        *,
        replaces: str | None = None,
    ) -> DmpSubmitResult:
        """TD2.1/TD2.2 (ITI-41, MTOM/XOP, XAdES-signed lot); `replaces` = entryUUID of the document replaced (RPLC).

        Idempotent: a resend of a uniqueId already registered for this patient with the same hash is a success
        (`already_registered`); with a different hash it is a DmpRejected (XDSNonIdenticalHash)."""
        ...

    def find_documents(
        self,
        caller: DmpCaller,
        ins: str,
        *,
        service_start_from: str | None = None,
        statuses: Sequence[str] = (STATUS_APPROVED,),
    ) -> list[DmpDocument]:
        """TD3.1a (ITI-18 FindDocuments); `service_start_from` an XDS DTM (first automatic search: 2 years)."""
        ...

    def find_new_documents(self, caller: DmpCaller, ins: str, *, submitted_from: str) -> list[DmpDocument]:
        """New documents since the last call: FindSubmissionSets ($XDSSubmissionSetSubmissionTimeFrom) then
        GetSubmissionSetAndContents / GetDocumentsAndAssociations by batches of 20."""
        ...

    def find_by_unique_id(self, caller: DmpCaller, ins: str, unique_id: str) -> DmpDocument | None:
        """TD3.1b: the entry (any status but Deleted) registered under this uniqueId, or None. Needs no
        authorization for the caller's own documents (to replace them); others' need a VALIDE one."""
        ...

    def retrieve(self, caller: DmpCaller, ins: str, document: DmpDocument) -> bytes:
        """TD3.2 (ITI-43): the document's bytes, hash and size checked against the registry entry."""
        ...

    def update_confidentiality(
        self, caller: DmpCaller, ins: str, document: DmpDocument, confidentiality: Sequence[str]
    ) -> DmpDocument:
        """TD3.3a/b (ITI-57): new metadata version with these confidentiality/visibility codes."""
        ...

    def update_status(self, caller: DmpCaller, ins: str, document: DmpDocument, new_status: str) -> None:
        """TD3.3c delete (STATUS_DELETED, author only) / TD3.3d archive (STATUS_ARCHIVED) / unarchive."""
        ...
