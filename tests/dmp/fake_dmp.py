"""An in-memory DMP implementing `caducee.dmp.api.DmpApi` faithfully (docs/dmp.md), for the product's unit tests.

Consultation (ITI-18, ITI-43) needs an open DMP and a VALIDE authorization, feeding and deleting do not (CONF.05);
registry keyed by uniqueId; a metadata update makes a new version (new entryUUID, same logicalId, version + 1);
RPLC deprecates the replaced entry; MASQUE_PS entries are listed to their author only; delete is author-only;
a resend of a registered uniqueId with the same hash is a success, with another hash XDSNonIdenticalHash. Errors on
demand: `fail(method, exc, times=n)`. Every call is logged in `calls` as (method, caller national id, ins).

`install_fake_dmp(monkeypatch, fake)` makes `caducee.dmp.client.dmp_client()` return it (the real module when it
exists, a stand-in module otherwise).
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import types
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from caducee.dmp.api import (
    AUTHORIZATION_ADD,
    STATUS_APPROVED,
    STATUS_DELETED,
    STATUS_DEPRECATED,
    DmpCaller,
    DmpDocument,
    DmpError,
    DmpIdentity,
    DmpPatientStatus,
    DmpRejected,
    DmpSubmitResult,
)
from caducee.documents.xds import SubmissionInfo, XdsDocumentEntry


@dataclass
class FakePatient:
    exists: bool = True
    active: bool = True
    closed_on: dt.date | None = None
    identity: DmpIdentity = field(default_factory=DmpIdentity)
    # national id -> (authorization, until)
    authorizations: dict[str, tuple[str, dt.date | None]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)


@dataclass
class Stored:
    ins: str
    document: DmpDocument
    content: bytes


def _dtm(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def _ge(value: str, bound: str) -> bool:
    """XDS DTM comparison at the precision of the bound (ITI TF-3 §4.2.3.1.7)."""
    return value[: len(bound)] >= bound[: len(value)] if value else False


class FakeDmp:
    def __init__(self) -> None:
        self.patients: dict[str, FakePatient] = {}
        self.documents: dict[str, Stored] = {}  # uniqueId -> current version
        self.calls: list[tuple[str, str, str]] = []
        self._failures: dict[str, list[DmpError]] = {}
        self.offset = dt.timedelta(0)  # the DMP's clock = ours + offset (`tick` moves it)

    # --- test controls -------------------------------------------------------------------------------------
    def add_patient(self, ins: str, **kwargs: Any) -> FakePatient:
        patient = FakePatient(**kwargs)
        self.patients[ins] = patient
        return patient

    def fail(self, method: str, exc: DmpError, *, times: int = 1) -> None:
        self._failures.setdefault(method, []).extend([exc] * times)

    def methods(self) -> list[str]:
        return [c[0] for c in self.calls]

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def tick(self, seconds: int = 60) -> None:
        self.offset += dt.timedelta(seconds=seconds)

    def _enter(self, method: str, caller: DmpCaller, ins: str) -> None:
        self.calls.append((method, caller.national_id, ins))
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def _patient(self, ins: str) -> FakePatient:
        patient = self.patients.get(ins)
        if patient is None or not patient.exists:
            raise DmpRejected("Le patient n'a pas de DMP.", code="DMP_INEXISTANT")
        return patient

    def _require_consultation(self, caller: DmpCaller, ins: str) -> None:
        """ITI-18 and ITI-43 are consultations: an open DMP and a VALIDE authorization (TD3.2, docs/dmp.md)."""
        patient = self._patient(ins)
        if not patient.active:
            raise DmpRejected("Le DMP du patient est fermé.", code="DMP_FERME")
        if self._status(caller, ins).authorization != "VALIDE":
            raise DmpRejected("Ce professionnel n'a pas d'autorisation d'accès à ce DMP.", code="DMP_ACCES_INTERDIT")

    def _visible(self, stored: Stored, caller: DmpCaller) -> bool:
        doc = stored.document
        return "MASQUE_PS" not in doc.confidentiality or doc.author_national_id == caller.national_id

    def seed_document(
        self,
        ins: str,
        *,
        unique_id: str,
        title: str = "Compte rendu d'hospitalisation",
        author: str = "810001234567^DUPONT^JEAN^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
        type_code: tuple[str, str, str] = ("34133-9", "2.16.840.1.113883.6.1", "Synthèse d'épisode de soins"),
        service_start: str = "20260110",
        submitted: dt.datetime | None = None,
        content: bytes = b"<ClinicalDocument/>",
        confidentiality: tuple[str, ...] = ("N",),
    ) -> DmpDocument:
        """A document some other professional put in the DMP (hospital letter, lab report…)."""
        from caducee.documents.xds_codes import XdsCode

        logical = f"urn:uuid:{uuid.uuid4()}"
        doc = DmpDocument(
            entry_uuid=logical,
            unique_id=unique_id,
            logical_id=logical,
            repository_unique_id="1.2.250.1.213.1.1.9",
            status=STATUS_APPROVED,
            title=title,
            type_code=XdsCode(*type_code),
            class_code=XdsCode("10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
            format_code=XdsCode("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "PDF"),
            confidentiality=confidentiality,
            author_person=author,
            author_institution="CHU de Test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1690000001",
            creation_time=service_start + "0800",
            service_start_time=service_start,
            submission_time=_dtm(submitted or self.now),
            mime_type="text/xml",
            hash="0" * 40,
            size=len(content),
        )
        self.documents[unique_id] = Stored(ins, doc, content)
        return doc

    # --- DmpApi ------------------------------------------------------------------------------------------
    def test_existence(self, caller: DmpCaller, ins: str) -> DmpPatientStatus:
        self._enter("test_existence", caller, ins)
        return self._status(caller, ins)

    def _status(self, caller: DmpCaller, ins: str) -> DmpPatientStatus:
        patient = self.patients.get(ins)
        if patient is None or not patient.exists:
            return DmpPatientStatus(ins=ins, exists=False, active=False, authorization="ABSENTE")
        if caller.national_id in patient.blocked:
            authorization, until = "INTERDITE", None
        else:
            authorization, until = patient.authorizations.get(caller.national_id, ("ABSENTE", None))
            if authorization == "VALIDE" and until is not None and until < self.now.date():
                authorization = "EXPIREE"
        return DmpPatientStatus(
            ins=ins,
            exists=True,
            active=patient.active,
            authorization=authorization,
            authorization_until=until,
            closed_on=patient.closed_on,
            closing_reason="Demande du patient" if not patient.active else "",
            identity=patient.identity,
        )

    def set_authorization(self, caller: DmpCaller, ins: str, action: str = AUTHORIZATION_ADD) -> DmpPatientStatus:
        self._enter("set_authorization", caller, ins)
        patient = self._patient(ins)
        if not patient.active:
            raise DmpRejected("Le DMP du patient est fermé.", code="DMP_FERME")
        if caller.national_id in patient.blocked:
            raise DmpRejected("Le patient a interdit l'accès à ce professionnel.", code="INTERDITE")
        if action == AUTHORIZATION_ADD:
            patient.authorizations[caller.national_id] = ("VALIDE", self.now.date() + dt.timedelta(days=183))
        else:
            patient.authorizations.pop(caller.national_id, None)
        return self._status(caller, ins)

    def provide_and_register(
        self,
        caller: DmpCaller,
        entries: Sequence[XdsDocumentEntry],
        submission: SubmissionInfo,
        *,
        replaces: str | None = None,
    ) -> DmpSubmitResult:
        ins = entries[0].patient_id
        self._enter("provide_and_register", caller, ins)
        patient = self._patient(ins)
        if not patient.active:
            raise DmpRejected("Le DMP du patient est fermé.", code="DMP_FERME")
        fresh = []
        for entry in entries:
            known = self.documents.get(entry.unique_id)
            if known is not None:
                if known.document.hash != entry.hash:
                    raise DmpRejected("Identifiant de document déjà utilisé.", code="XDSNonIdenticalHash")
                continue
            fresh.append(entry)
        if replaces is not None and fresh:
            old = next((s for s in self.documents.values() if s.document.entry_uuid == replaces), None)
            if old is None or old.document.status != STATUS_APPROVED:
                raise DmpRejected("Document à remplacer introuvable.", code="XDSMetadataError")
            old.document = replace(old.document, status=STATUS_DEPRECATED)
        for entry in fresh:
            logical = f"urn:uuid:{uuid.uuid4()}"
            self.documents[entry.unique_id] = Stored(
                ins,
                DmpDocument(
                    entry_uuid=logical,
                    unique_id=entry.unique_id,
                    logical_id=logical,
                    repository_unique_id="1.2.250.1.213.1.1.9",
                    status=STATUS_APPROVED,
                    title=entry.title,
                    type_code=entry.type_code,
                    class_code=entry.class_code,
                    format_code=entry.format_code,
                    confidentiality=tuple(c.code for c in entry.confidentiality),
                    author_person=entry.author.person,
                    author_institution=entry.author.institution,
                    creation_time=entry.creation_time,
                    service_start_time=entry.service_start_time,
                    submission_time=_dtm(self.now),
                    mime_type=entry.mime_type,
                    hash=entry.hash,
                    size=entry.size,
                ),
                entry.content,
            )
        return DmpSubmitResult(submission.unique_id, tuple(e.unique_id for e in entries), already_registered=not fresh)

    def find_documents(
        self,
        caller: DmpCaller,
        ins: str,
        *,
        service_start_from: str | None = None,
        statuses: Sequence[str] = (STATUS_APPROVED,),
    ) -> list[DmpDocument]:
        self._enter("find_documents", caller, ins)
        self._require_consultation(caller, ins)
        return [
            s.document
            for s in self.documents.values()
            if s.ins == ins
            and s.document.status in statuses
            and self._visible(s, caller)
            and (service_start_from is None or _ge(s.document.service_start_time, service_start_from))
        ]

    def find_new_documents(self, caller: DmpCaller, ins: str, *, submitted_from: str) -> list[DmpDocument]:
        self._enter("find_new_documents", caller, ins)
        self._require_consultation(caller, ins)
        return [
            s.document
            for s in self.documents.values()
            if s.ins == ins
            and s.document.status == STATUS_APPROVED
            and self._visible(s, caller)
            and _ge(s.document.submission_time, submitted_from)
        ]

    def find_by_unique_id(self, caller: DmpCaller, ins: str, unique_id: str) -> DmpDocument | None:
        """TD3.1b: no authorization needed for the caller's own documents (an LPS finding what it fed, notes §1.2)."""
        self._enter("find_by_unique_id", caller, ins)
        if not self._patient(ins).active:
            raise DmpRejected("Le DMP du patient est fermé.", code="DMP_FERME")
        stored = self.documents.get(unique_id)
        if stored is None or stored.ins != ins or stored.document.status == STATUS_DELETED:
            return None
        authorized = self._status(caller, ins).authorization == "VALIDE"
        if not authorized and stored.document.author_national_id != caller.national_id:
            return None
        return stored.document if self._visible(stored, caller) else None

    def retrieve(self, caller: DmpCaller, ins: str, document: DmpDocument) -> bytes:
        self._enter("retrieve", caller, ins)
        self._require_consultation(caller, ins)
        stored = self.documents.get(document.unique_id)
        if stored is None or not self._visible(stored, caller):
            raise DmpRejected("Document introuvable.", code="XDSMissingDocument")
        return stored.content

    def _current(self, document: DmpDocument) -> Stored:
        stored = self.documents.get(document.unique_id)
        if stored is None or stored.document.entry_uuid != document.entry_uuid:
            raise DmpRejected("Version de métadonnées périmée.", code="XDSMetadataVersionError")
        return stored

    def update_confidentiality(
        self, caller: DmpCaller, ins: str, document: DmpDocument, confidentiality: Sequence[str]
    ) -> DmpDocument:
        self._enter("update_confidentiality", caller, ins)
        stored = self._current(document)
        stored.document = replace(
            stored.document,
            entry_uuid=f"urn:uuid:{uuid.uuid4()}",
            confidentiality=tuple(confidentiality),
            version=stored.document.version + 1,
        )
        return stored.document

    def update_status(self, caller: DmpCaller, ins: str, document: DmpDocument, new_status: str) -> None:
        self._enter("update_status", caller, ins)
        stored = self._current(document)
        if new_status == STATUS_DELETED and stored.document.author_national_id != caller.national_id:
            raise DmpRejected("Seul l'auteur peut supprimer ce document.", code="DMP_AUTEUR_REQUIS")
        stored.document = replace(stored.document, status=new_status)


def install_fake_dmp(monkeypatch: pytest.MonkeyPatch, fake: FakeDmp) -> FakeDmp:
    """`caducee.dmp.client.dmp_client()` returns `fake` for the test (whether or not the real client exists)."""
    try:
        module = importlib.import_module("caducee.dmp.client")
    except Exception:  # not written yet (or broken while another helper edits it): a stand-in module
        stand_in = types.ModuleType("caducee.dmp.client")
        monkeypatch.setitem(sys.modules, "caducee.dmp.client", stand_in)
        module = stand_in
    monkeypatch.setattr(module, "dmp_client", lambda: fake, raising=False)
    return fake


@pytest.fixture
def fake_dmp(monkeypatch: pytest.MonkeyPatch) -> FakeDmp:
    return install_fake_dmp(monkeypatch, FakeDmp())


# --- shared test data ---------------------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n% test\n%%EOF\n"
INS_CX = "297022A02012345^^^&1.2.250.1.213.1.4.10&ISO^NH"  # tests.documents.cda_records TEST_INS / TEST_INS_OID
DOCTOR_NATIONAL_ID = "889970012345"  # tests.conftest doctor (RPPS 89970012345)
MATCHING_IDENTITY = DmpIdentity(birth_name="ADRTROIS", given="DOMINIQUE", sex="F", birth_date="19970226")


def store_n1(
    *, practice: Any, author: Any, patient: Any, title: str = "Compte rendu de consultation", replaces: Any = None
) -> Any:
    """A stored N1 consultation report (CDA + PDF) of `patient`, as the letters produce them."""
    from django.db import transaction
    from django.utils import timezone

    from caducee.documents.cda import codes as cda_codes
    from caducee.documents.cda.n1 import build_n1
    from caducee.documents.ids import document_ids_of
    from caducee.documents.services import document_ids_new, document_store

    ids = document_ids_new(practice=practice, replaces=replaces)
    code = cda_codes.DOC_CONSULTATION_REPORT
    cda = build_n1(
        ids=ids,
        practice=practice,
        author=author,
        patient=patient,
        type_code=code,
        title=title,
        pdf=PDF,
        effective_time=timezone.now(),
        replaces=document_ids_of(replaces) if replaces is not None else None,
    )
    with transaction.atomic():
        return document_store(
            actor=author,
            patient=patient,
            ids=ids,
            model="n1",
            type_code=code.code,
            type_code_system=code.system,
            type_label=code.display,
            title=title,
            cda=cda,
            pdf=PDF,
            replaces=replaces,
        )
