"""The DMP's behaviour, transaction by transaction (TD0.2, TD0.3, ITI-41, ITI-18, ITI-43, ITI-57).

Rules and their sources:
- docs/dmp.md (wire contract), notes §1.2: feeding and deleting need no authorization (SC.DMP/CONF.05, TD3.3c NB1);
  consultation (ITI-18, ITI-43) needs a VALIDE authorization (TD3.2); only the author deletes (TD3.3c NB2);
  MASQUE_PS documents are shown to their author only; an authorization lasts 6 months (UX.05).
- IHE ITI TF-2b §3.41 (ITI-41: hash/size checks, XDSNonIdenticalHash, RPLC → Deprecated), ITI TF-2a §3.18 (stored
  queries), §3.43, §3.57 (new metadata version: PreviousVersion; UpdateAvailabilityStatus).
- Sandbox choices where the public material is silent (say so in their messages): a duplicate uniqueId with the
  same hash answers Success with both a `DuplicateUniqueIdSameHash` response slot and an
  `XDSDuplicateUniqueIdInRegistry` Warning (both client conventions); hash/size mismatch is
  `XDSRepositoryMetadataError`; the lot's XAdES signature (`signature.verify_lot_signature`, certificate
  chained to the sandbox CA) is required; the signature document is never returned by FindDocuments nor
  GetSubmissionSetAndContents.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from caducee.sandbox.dmp import hl7v3
from caducee.sandbox.dmp import registry as rim
from caducee.sandbox.dmp.checks import VihfClaims
from caducee.sandbox.dmp.patients import InsRefused, PatientState, add_months, split_cx, state_of
from caducee.sandbox.dmp.registry import (
    APPROVED,
    ARCHIVED,
    DELETED,
    DEPRECATED,
    FAILURE,
    FIND_DOCUMENTS,
    FIND_SUBMISSION_SETS,
    GET_DOCUMENTS,
    GET_DOCUMENTS_AND_ASSOCIATIONS,
    GET_SUBMISSION_SET_AND_CONTENTS,
    HAS_MEMBER,
    NS_LCM,
    NS_QUERY,
    NS_RS,
    NS_XDSB,
    PARTIAL,
    RPLC,
    SEVERITY_ERROR,
    SEVERITY_WARNING,
    SIGNATURE_CLASS,
    SIGNS,
    SUCCESS,
    UPDATE_AVAILABILITY,
    R,
    ValueSets,
    answer_form,
    author_person,
    classifications,
    external_id,
    is_submission_set,
    registry_form,
    set_slot,
    slot1,
    slot_values,
)
from caducee.sandbox.dmp.signature import LotSignatureRefused, verify_lot_signature
from caducee.sandbox.dmp.store import DmpStore, NewDocument, NewSubmissionSet, StoredDocument

REPOSITORY_UNIQUE_ID = "1.2.250.1.213.4.1.1.1"  # the sandbox's own (the real one comes with the CNDA kit)
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # documents up to 20 MB
DUPLICATE_SLOT = "DuplicateUniqueIdSameHash"
DUPLICATE_WARNING = "XDSDuplicateUniqueIdInRegistry"
_NS_XOP = "http://www.w3.org/2004/08/xop/include"


class XdsFailure(Exception):
    """An ebRS failure: RegistryResponse status Failure with these (errorCode, codeContext) errors."""

    def __init__(self, code: str, context: str) -> None:
        super().__init__(f"{code}: {context}")
        self.errors = [(code, context)]


@dataclass
class Answer:
    """A SOAP body to send back, with its MTOM attachments (Content-ID, mime, bytes) if any."""

    body: etree._Element
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    outcome: str = "ok"


def registry_response(
    status: str,
    errors: Sequence[tuple[str, str]] = (),
    *,
    warnings: Sequence[tuple[str, str]] = (),
    slots: dict[str, list[str]] | None = None,
) -> etree._Element:
    response = etree.Element(f"{{{NS_RS}}}RegistryResponse", nsmap={"rs": NS_RS, "rim": R[1:-1]}, status=status)
    if slots:
        slot_list = etree.SubElement(response, f"{{{NS_RS}}}ResponseSlotList")
        for name, values in slots.items():
            slot = etree.SubElement(slot_list, R + "Slot", name=name)
            value_list = etree.SubElement(slot, R + "ValueList")
            for value in values:
                etree.SubElement(value_list, R + "Value").text = value
    if errors or warnings:
        error_list = etree.SubElement(response, f"{{{NS_RS}}}RegistryErrorList")
        for severity, items in ((SEVERITY_ERROR, errors), (SEVERITY_WARNING, warnings)):
            for code, context in items:
                node = etree.SubElement(error_list, f"{{{NS_RS}}}RegistryError", errorCode=code, codeContext=context)
                node.set("severity", severity)
    return response


def _dtm(value: str) -> str:
    """An XDS DTM padded to 14 digits, for comparisons."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits.ljust(14, "0")[:14]


def _now_dtm() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


class DmpService:
    """Stateless apart from the store: every method gets the VIHF claims and the request body."""

    def __init__(
        self,
        store: DmpStore,
        patients: dict[str, dict[str, Any]],
        schema: etree.XMLSchema | None,
        value_sets: ValueSets,
        *,
        ca_file: str = "",
        today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
    ) -> None:
        self.store = store
        self.schema = schema
        self.value_sets = value_sets
        self.ca_pem = Path(ca_file).read_bytes() if ca_file else b""
        self.today = today
        store.seed_patients({f"{m}": c for m, c in patients.items()})

    # -- shared ---------------------------------------------------------------------------------------------

    def patient(self, ins: str) -> PatientState:
        """The DMP state of this CX INS (raises InsRefused for a production OID)."""
        matricule, _ = split_cx(ins)
        return state_of(ins, self.store.patient_config(matricule))

    def authorization(self, patient: PatientState, national_id: str) -> tuple[str, dt.date | None]:
        if patient.blocks(national_id):
            return "INTERDITE", None
        until = self.store.authorization_until(patient.ins, national_id)
        if until is None or until is False:
            return "ABSENTE", None
        assert isinstance(until, dt.date)
        return ("VALIDE" if until >= self.today() else "EXPIREE"), until

    def _validate(self, element: etree._Element) -> None:
        if self.schema is not None and not self.schema.validate(element):
            error = self.schema.error_log.last_error  # type: ignore[attr-defined]
            raise XdsFailure(
                "XDSRegistryMetadataError",
                f"Requête non conforme aux XSD XDS.b/ebRS : {error.message if error else ''}",
            )

    def _patient_for_xds(self, claims: VihfClaims) -> PatientState:
        if not claims.resource_id:
            raise XdsFailure("XDSUnknownPatientId", "VIHF sans resource-id : le patient concerné est inconnu.")
        try:
            return self.patient(claims.resource_id)
        except InsRefused as exc:
            raise XdsFailure("XDSUnknownPatientId", str(exc)) from exc

    @staticmethod
    def _require_open(patient: PatientState) -> None:
        if not patient.exists:
            raise XdsFailure("DMP_INEXISTANT", "Ce patient n'a pas de DMP (opposition à sa création).")
        if patient.closed_on is not None:
            raise XdsFailure("DMP_FERME", f"Le DMP de ce patient est fermé depuis le {patient.closed_on:%d/%m/%Y}.")

    def _require_consultation(self, patient: PatientState, claims: VihfClaims) -> None:
        self._require_open(patient)
        state, _ = self.authorization(patient, claims.national_id)
        if state != "VALIDE":
            messages = {
                "INTERDITE": "Le patient a bloqué l'accès de ce professionnel à son DMP.",
                "EXPIREE": "L'autorisation d'accès de ce professionnel a expiré : renouvelez-la (TD0.3).",
                "ABSENTE": "Ce professionnel n'a pas d'autorisation d'accès à ce DMP (TD0.3 nécessaire).",
            }
            raise XdsFailure("DMP_ACCES_INTERDIT", messages[state])

    @staticmethod
    def _visible(document: StoredDocument, claims: VihfClaims) -> bool:
        if document.status == DELETED:
            return False
        if "MASQUE_PS" in document.confidentiality and document.author_national_id != claims.national_id:
            return False
        return True

    # -- TD0.2 / TD0.3 ------------------------------------------------------------------------------------------

    def td02(self, claims: VihfClaims, body: etree._Element) -> Answer:
        request_id, query_id, ins = hl7v3.parse_td02_request(body)  # ValueError: a Sender fault
        if claims.resource_id != ins:
            raise PermissionError("Le resource-id du VIHF ne désigne pas le patient de la requête.")
        try:
            patient = self.patient(ins)
        except InsRefused:
            return Answer(
                hl7v3.td02_response(
                    request_id=request_id, query_id=query_id, ins=ins, exists=False, error_code="DMPPatientIdUnknown"
                ),
                outcome="ins_refused",
            )
        if not patient.exists:
            return Answer(
                hl7v3.td02_response(request_id=request_id, query_id=query_id, ins=ins, exists=False), outcome="NF"
            )
        authorization, until = self.authorization(patient, claims.national_id)
        body_out = hl7v3.td02_response(
            request_id=request_id,
            query_id=query_id,
            ins=ins,
            exists=True,
            active=patient.active,
            authorization=authorization,
            authorization_until=until,
            closed_on=patient.closed_on,
            closing_reason=patient.closing_reason,
            medecin_traitant=claims.national_id in patient.medecin_traitant,
            mes_attached=patient.mes_attached,
            traits=patient.identity,
        )
        return Answer(body_out, outcome=authorization if patient.active else "closed")

    def td03(self, claims: VihfClaims, body: etree._Element) -> Answer:
        action = hl7v3.parse_td03_request(body)  # ValueError: a Sender fault
        if not claims.resource_id:
            raise PermissionError("VIHF sans resource-id : le patient concerné est inconnu.")
        try:
            patient = self.patient(claims.resource_id)
        except InsRefused as exc:
            raise PermissionError(str(exc)) from exc
        if not patient.exists:
            return Answer(hl7v3.td03_response(status="DMP_INEXISTANT"), outcome="DMP_INEXISTANT")
        if patient.closed_on is not None:
            return Answer(hl7v3.td03_response(status="DMP_FERME"), outcome="DMP_FERME")
        if patient.blocks(claims.national_id):
            return Answer(hl7v3.td03_response(status="INTERDITE"), outcome="INTERDITE")
        if action == "SUPPRESSION":
            self.store.set_authorization(patient.ins, claims.national_id, None)
            return Answer(hl7v3.td03_response(status="OK"), outcome="SUPPRESSION")
        until = add_months(self.today(), 6)
        self.store.set_authorization(patient.ins, claims.national_id, until)
        return Answer(hl7v3.td03_response(status="OK", authorization_end=until), outcome="AJOUT")

    # -- ITI-41 -------------------------------------------------------------------------------------------------

    def provide_and_register(self, claims: VihfClaims, body: etree._Element, attachments: dict[str, bytes]) -> Answer:
        try:
            return self._provide_and_register(claims, body, attachments)
        except XdsFailure as failure:
            return Answer(registry_response(FAILURE, failure.errors), outcome=failure.errors[0][0])

    def _provide_and_register(self, claims: VihfClaims, body: etree._Element, attachments: dict[str, bytes]) -> Answer:
        if body.tag != f"{{{NS_XDSB}}}ProvideAndRegisterDocumentSetRequest":
            raise XdsFailure("XDSRegistryMetadataError", "ProvideAndRegisterDocumentSetRequest attendu.")
        contents = self._documents(body, attachments)
        self._validate(body)
        patient = self._patient_for_xds(claims)
        objects = body.find(f"{{{NS_LCM}}}SubmitObjectsRequest/{R}RegistryObjectList")
        assert objects is not None  # schema
        packages = [p for p in objects.findall(f"{R}RegistryPackage") if is_submission_set(p)]
        if len(packages) != 1:
            raise XdsFailure("XDSRegistryMetadataError", "Un lot de soumission (SubmissionSet) et un seul attendu.")
        package = packages[0]
        ss_id = package.get("id", "")
        ss_patient = external_id(package, rim.SS_PATIENT_ID)
        ss_unique_id = external_id(package, rim.SS_UNIQUE_ID)
        if not ss_unique_id or not ss_patient:
            raise XdsFailure("XDSRegistryMetadataError", "Lot sans uniqueId ou sans patientId.")
        if ss_patient != patient.ins:
            raise XdsFailure("XDSPatientIdDoesNotMatch", "Le patient du lot diffère du resource-id du VIHF.")
        self._require_open(patient)

        entries = objects.findall(f"{R}ExtrinsicObject")
        ids = {eo.get("id", "") for eo in entries}
        for document_id in contents:
            if document_id not in ids:
                raise XdsFailure("XDSMissingDocumentMetadata", f"Document {document_id} sans métadonnées.")
        associations = objects.findall(f"{R}Association")
        members = {
            a.get("targetObject")
            for a in associations
            if a.get("associationType") == HAS_MEMBER and a.get("sourceObject") == ss_id
        }
        signatures: list[etree._Element] = []
        documents: list[etree._Element] = []
        for eo in entries:
            self._check_entry(eo, patient, contents, members)
            class_code = classifications(eo, rim.DE_CLASS_CODE)[0][0]
            (signatures if class_code == SIGNATURE_CLASS else documents).append(eo)
        if not documents:
            raise XdsFailure("XDSRegistryMetadataError", "Le lot ne contient aucun document.")
        if len(signatures) != 1:
            raise XdsFailure("XDSRegistryMetadataError", "Lot non signé : signature XAdES du lot (une seule) attendue.")
        signature = signatures[0]
        if not any(
            a.get("associationType") == SIGNS
            and a.get("sourceObject") == signature.get("id")
            and a.get("targetObject") == ss_id
            for a in associations
        ):
            raise XdsFailure("XDSRegistryMetadataError", "Association « signs » de la signature vers le lot absente.")
        self._check_lot_signature(contents[signature.get("id", "")], documents, contents)

        replaces: dict[str, str] = {}
        for association in associations:
            kind = association.get("associationType")
            if kind == RPLC:
                replaces[association.get("sourceObject", "")] = association.get("targetObject", "")
            elif kind not in (HAS_MEMBER, SIGNS):
                raise XdsFailure("XDSRegistryMetadataError", f"Type d'association non pris en charge : {kind}.")

        submission_time = slot1(package, "submissionTime") or _now_dtm()
        ss_author = author_person(package, rim.SS_AUTHOR).split("^")[0] or claims.national_id
        with self.store.write() as db:
            duplicates: list[str] = []
            new_documents: list[etree._Element] = []
            for eo in documents:
                unique_id = external_id(eo, rim.DE_UNIQUE_ID)
                digest = hashlib.sha1(contents[eo.get("id", "")]).hexdigest()  # noqa: S324 - XDS hash is SHA-1
                existing = [d for d in self.store.documents_by_unique_id(unique_id, db) if d.status != DELETED]
                if any(d.patient != patient.ins for d in existing):
                    raise XdsFailure(
                        "XDSDuplicateUniqueIdInRegistry", f"uniqueId {unique_id} déjà utilisé pour un autre patient."
                    )
                if any(d.hash != digest for d in existing):
                    raise XdsFailure(
                        "XDSNonIdenticalHash", f"uniqueId {unique_id} déjà enregistré avec un autre contenu."
                    )
                (duplicates.append(unique_id) if existing else new_documents.append(eo))
            if not new_documents:
                return Answer(
                    registry_response(
                        SUCCESS,
                        warnings=[(DUPLICATE_WARNING, u) for u in duplicates],
                        slots={DUPLICATE_SLOT: duplicates},
                    ),
                    outcome="duplicate",
                )
            replaced: list[StoredDocument] = []
            for source, target in replaces.items():
                if source not in {eo.get("id") for eo in new_documents}:
                    raise XdsFailure("XDSRegistryMetadataError", f"RPLC depuis un objet inconnu du lot : {source}.")
                old = self.store.document(target, db)
                if old is None:
                    raise XdsFailure("XDSRegistryMetadataError", f"Document remplacé inconnu : {target}.")
                if old.patient != patient.ins:
                    raise XdsFailure("XDSPatientIdDoesNotMatch", "Le document remplacé appartient à un autre patient.")
                if old.status != APPROVED:
                    raise XdsFailure("XDSRegistryMetadataError", "Seul un document au statut Approved est remplaçable.")
                replaced.append(old)
            ss_uuid = f"urn:uuid:{uuid.uuid4()}"
            new_set = NewSubmissionSet(
                entry_uuid=ss_uuid,
                unique_id=ss_unique_id,
                patient=patient.ins,
                submission_time=submission_time,
                author_national_id=ss_author,
                metadata=registry_form(package, ss_uuid, None, {}),
            )
            for eo in [*new_documents, signature]:
                new_set.documents.append(self._new_document(eo, contents[eo.get("id", "")], patient, new_set))
            self.store.insert_submission(db, new_set)
            for old in replaced:
                self.store.set_status(db, old.entry_uuid, DEPRECATED)
        slots = {DUPLICATE_SLOT: duplicates} if duplicates else None
        warnings = [(DUPLICATE_WARNING, u) for u in duplicates]
        return Answer(registry_response(SUCCESS, warnings=warnings, slots=slots), outcome="registered")

    def _documents(self, body: etree._Element, attachments: dict[str, bytes]) -> dict[str, bytes]:
        """id → bytes of each xdsb:Document (xop:Include resolved; inline base64 accepted), emptied for the XSD."""
        contents: dict[str, bytes] = {}
        for node in body.findall(f"{{{NS_XDSB}}}Document"):
            include = node.find(f"{{{_NS_XOP}}}Include")
            if include is not None:
                href = include.get("href", "")
                cid = urllib.parse.unquote(href[4:]) if href.startswith("cid:") else ""  # RFC 2392
                if cid not in attachments:
                    raise XdsFailure("XDSMissingDocument", f"Pièce MTOM {href} absente du message.")
                data = attachments[cid]
                node.remove(include)
            else:
                try:
                    data = base64.b64decode("".join(str(t) for t in node.itertext()), validate=False)
                except (binascii.Error, ValueError) as exc:
                    raise XdsFailure("XDSRegistryMetadataError", "Document en base64 illisible.") from exc
                node.text = None
            if len(data) > MAX_DOCUMENT_BYTES:
                raise XdsFailure("XDSRepositoryError", "Document de plus de 20 Mo refusé.")
            contents[node.get("id", "")] = data
        return contents

    def _check_entry(
        self, eo: etree._Element, patient: PatientState, contents: dict[str, bytes], members: set[str | None]
    ) -> None:
        entry_id = eo.get("id", "")
        if eo.get("objectType") != rim.DOCUMENT_ENTRY_STABLE:
            raise XdsFailure("XDSRegistryMetadataError", f"{entry_id} : objectType DocumentEntry stable attendu.")
        if entry_id not in contents:
            raise XdsFailure("XDSMissingDocument", f"Contenu du document {entry_id} absent.")
        if entry_id not in members:
            raise XdsFailure("XDSRegistryMetadataError", f"{entry_id} n'est pas rattaché au lot (HasMember).")
        if external_id(eo, rim.DE_PATIENT_ID) != patient.ins:
            raise XdsFailure("XDSPatientIdDoesNotMatch", f"{entry_id} : patientId différent de celui du lot.")
        if not external_id(eo, rim.DE_UNIQUE_ID):
            raise XdsFailure("XDSRegistryMetadataError", f"{entry_id} : uniqueId absent.")
        classes = classifications(eo, rim.DE_CLASS_CODE)
        if len(classes) != 1 or not self.value_sets.class_ok(*classes[0]):
            raise XdsFailure("XDSRegistryMetadataError", f"{entry_id} : classCode hors JDV_J57 ({classes}).")
        formats = classifications(eo, rim.DE_FORMAT_CODE)
        if len(formats) != 1 or not self.value_sets.format_ok(formats[0][0]):
            raise XdsFailure("XDSRegistryMetadataError", f"{entry_id} : formatCode hors JDV_J60 ({formats}).")
        confidentiality = classifications(eo, rim.DE_CONFIDENTIALITY_CODE)
        if not confidentiality or not all(self.value_sets.confidentiality_ok(c, s) for c, s in confidentiality):
            raise XdsFailure(
                "XDSRegistryMetadataError", f"{entry_id} : confidentialityCode hors JDV_J58 ({confidentiality})."
            )
        if not classifications(eo, rim.DE_TYPE_CODE):
            raise XdsFailure("XDSRegistryMetadataError", f"{entry_id} : typeCode absent.")
        data = contents[entry_id]
        declared_hash, declared_size = slot1(eo, "hash").lower(), slot1(eo, "size")
        if declared_hash and declared_hash != hashlib.sha1(data).hexdigest():  # noqa: S324 - XDS hash is SHA-1
            raise XdsFailure("XDSRepositoryMetadataError", f"{entry_id} : empreinte SHA-1 (hash) incorrecte.")
        if declared_size and declared_size != str(len(data)):
            raise XdsFailure("XDSRepositoryMetadataError", f"{entry_id} : taille (size) incorrecte.")

    def _check_lot_signature(self, data: bytes, documents: list[etree._Element], contents: dict[str, bytes]) -> None:
        """XAdES of the lot over its IHE manifest (`signature`), chained to the sandbox CA."""
        signed = {external_id(eo, rim.DE_UNIQUE_ID): contents[eo.get("id", "")] for eo in documents}
        try:
            verify_lot_signature(data, signed, self.ca_pem)
        except LotSignatureRefused as exc:
            raise XdsFailure("XDSRegistryMetadataError", f"Signature du lot refusée : {exc}") from exc

    def _new_document(
        self, eo: etree._Element, content: bytes, patient: PatientState, submission: NewSubmissionSet
    ) -> NewDocument:
        entry_uuid = f"urn:uuid:{uuid.uuid4()}"
        digest = hashlib.sha1(content).hexdigest()  # noqa: S324 - XDS hash is SHA-1
        metadata = registry_form(
            eo,
            entry_uuid,
            entry_uuid,
            {
                "hash": digest,
                "size": str(len(content)),
                "repositoryUniqueId": REPOSITORY_UNIQUE_ID,
                "submissionTime": submission.submission_time,
            },
        )
        class_code = classifications(eo, rim.DE_CLASS_CODE)[0][0]
        types = classifications(eo, rim.DE_TYPE_CODE)
        return NewDocument(
            entry_uuid=entry_uuid,
            logical_id=entry_uuid,
            unique_id=external_id(eo, rim.DE_UNIQUE_ID),
            version=1,
            patient=patient.ins,
            status=APPROVED,
            metadata=metadata,
            content=content,
            hash=digest,
            size=len(content),
            mime_type=eo.get("mimeType", ""),
            repository=REPOSITORY_UNIQUE_ID,
            submission_set=submission.entry_uuid,
            submission_time=submission.submission_time,
            author_national_id=author_person(eo, rim.DE_AUTHOR).split("^")[0],
            confidentiality=tuple(c for c, _ in classifications(eo, rim.DE_CONFIDENTIALITY_CODE)),
            class_code=class_code,
            type_code=f"{types[0][0]}^{types[0][1]}" if types else "",
            creation_time=slot1(eo, "creationTime"),
            service_start_time=slot1(eo, "serviceStartTime"),
            is_signature=class_code == SIGNATURE_CLASS,
        )

    # -- ITI-18 -------------------------------------------------------------------------------------------------

    def stored_query(self, claims: VihfClaims, body: etree._Element) -> Answer:
        try:
            return self._stored_query(claims, body)
        except XdsFailure as failure:
            response = etree.Element(
                f"{{{NS_QUERY}}}AdhocQueryResponse", nsmap={"query": NS_QUERY, "rs": NS_RS}, status=FAILURE
            )
            response.append(registry_response(FAILURE, failure.errors)[0])
            return Answer(response, outcome=failure.errors[0][0])

    @staticmethod
    def _params(query: etree._Element) -> dict[str, list[str]]:
        params: dict[str, list[str]] = {}
        for slot in query.findall(f"{R}Slot"):
            values: list[str] = []
            for raw in slot_values(query, slot.get("name", "")):
                text = raw.strip()
                if text.startswith("(") and text.endswith(")"):
                    text = text[1:-1]
                for item in _split_list(text):
                    values.append(item)
            params[slot.get("name", "")] = values
        return params

    def _stored_query(self, claims: VihfClaims, body: etree._Element) -> Answer:
        if body.tag != f"{{{NS_QUERY}}}AdhocQueryRequest":
            raise XdsFailure("XDSRegistryMetadataError", "AdhocQueryRequest attendu.")
        self._validate(body)
        option = body.find(f"{{{NS_QUERY}}}ResponseOption")
        return_type = option.get("returnType", "LeafClass") if option is not None else "LeafClass"
        query = body.find(f"{R}AdhocQuery")
        assert query is not None  # schema
        query_id = query.get("id", "")
        params = self._params(query)
        patient = self._patient_for_xds(claims)
        # TD3.1b (notes §1.2): an LPS without the consultation profile finds the entryUUID of the documents it
        # fed from their uniqueId (to replace them, RPLC) — no authorization needed, its own documents only.
        own_by_unique_id = (
            query_id in (GET_DOCUMENTS, GET_DOCUMENTS_AND_ASSOCIATIONS)
            and bool(params.get("$XDSDocumentEntryUniqueId"))
            and not params.get("$XDSDocumentEntryEntryUUID")
        )
        if own_by_unique_id:
            self._require_open(patient)
        else:
            self._require_consultation(patient, claims)

        def one(name: str) -> str:
            values = params.get(name) or []
            return values[0] if values else ""

        documents: list[StoredDocument] = []
        sets = []
        members: list[tuple[str, str]] = []
        if query_id == FIND_DOCUMENTS:
            if one("$XDSDocumentEntryPatientId") != patient.ins:
                raise XdsFailure("XDSPatientIdDoesNotMatch", "$XDSDocumentEntryPatientId ≠ resource-id du VIHF.")
            statuses = params.get("$XDSDocumentEntryStatus") or []
            if not statuses:
                raise XdsFailure("XDSStoredQueryParamNumber", "$XDSDocumentEntryStatus obligatoire.")
            start_from, start_to = (
                one("$XDSDocumentEntryServiceStartTimeFrom"),
                one("$XDSDocumentEntryServiceStartTimeTo"),
            )
            created_from = one("$XDSDocumentEntryCreationTimeFrom")
            class_codes = {v.split("^")[0] for v in params.get("$XDSDocumentEntryClassCode") or []}
            type_codes = {v.split("^")[0] for v in params.get("$XDSDocumentEntryTypeCode") or []}
            for document in self.store.documents_of_patient(patient.ins, [s for s in statuses if s != DELETED]):
                if document.is_signature or not self._visible(document, claims):
                    continue
                if start_from and _dtm(document.service_start_time) < _dtm(start_from):
                    continue
                if start_to and _dtm(document.service_start_time) >= _dtm(start_to):
                    continue
                if created_from and _dtm(document.creation_time) < _dtm(created_from):
                    continue
                if class_codes and document.class_code not in class_codes:
                    continue
                if type_codes and document.type_code.split("^")[0] not in type_codes:
                    continue
                documents.append(document)
        elif query_id == FIND_SUBMISSION_SETS:
            if one("$XDSSubmissionSetPatientId") != patient.ins:
                raise XdsFailure("XDSPatientIdDoesNotMatch", "$XDSSubmissionSetPatientId ≠ resource-id du VIHF.")
            submitted_from = one("$XDSSubmissionSetSubmissionTimeFrom")
            sets = [
                s
                for s in self.store.submission_sets(patient.ins)
                if not submitted_from or _dtm(s.submission_time) >= _dtm(submitted_from)
            ]
        elif query_id == GET_SUBMISSION_SET_AND_CONTENTS:
            wanted = self.store.submission_set(
                entry_uuid=one("$XDSSubmissionSetEntryUUID"), unique_id=one("$XDSSubmissionSetUniqueId")
            )
            if wanted is not None and wanted.patient == patient.ins:
                sets = [wanted]
                for document in self.store.documents_of_submission(wanted.entry_uuid):
                    if not document.is_signature and self._visible(document, claims):
                        documents.append(document)
                        members.append((wanted.entry_uuid, document.entry_uuid))
        elif query_id in (GET_DOCUMENTS, GET_DOCUMENTS_AND_ASSOCIATIONS):
            found: list[StoredDocument] = []
            for entry_uuid in params.get("$XDSDocumentEntryEntryUUID") or []:
                by_uuid = self.store.document(entry_uuid)
                found += [by_uuid] if by_uuid else []
            for unique_id in params.get("$XDSDocumentEntryUniqueId") or []:
                found += self.store.documents_by_unique_id(unique_id)
            if not found and not (params.get("$XDSDocumentEntryEntryUUID") or params.get("$XDSDocumentEntryUniqueId")):
                raise XdsFailure("XDSStoredQueryParamNumber", "entryUUID ou uniqueId obligatoire.")
            documents = [d for d in found if d.patient == patient.ins and self._visible(d, claims)]
            if own_by_unique_id and self.authorization(patient, claims.national_id)[0] != "VALIDE":
                documents = [d for d in documents if d.author_national_id == claims.national_id]
            if query_id == GET_DOCUMENTS_AND_ASSOCIATIONS:
                members = [(d.submission_set, d.entry_uuid) for d in documents]
        else:
            raise XdsFailure("XDSUnknownStoredQuery", f"Requête stockée inconnue : {query_id}.")

        response = etree.Element(
            f"{{{NS_QUERY}}}AdhocQueryResponse", nsmap={"query": NS_QUERY, "rim": R[1:-1]}, status=SUCCESS
        )
        objects = etree.SubElement(response, R + "RegistryObjectList")
        if return_type == "ObjectRef":
            for ident in [s.entry_uuid for s in sets] + [d.entry_uuid for d in documents]:
                etree.SubElement(objects, R + "ObjectRef", id=ident)
            return Answer(response, outcome=f"{len(documents)} documents")
        for submission in sets:
            objects.append(answer_form(submission.metadata, status=APPROVED, version=None))
        for document in documents:
            objects.append(answer_form(document.metadata, status=document.status, version=document.version))
        for source, target in members:
            association = etree.SubElement(
                objects,
                R + "Association",
                id=f"urn:uuid:{uuid.uuid4()}",
                associationType=HAS_MEMBER,
                sourceObject=source,
                targetObject=target,
            )
            association.set("status", APPROVED)
            set_slot(association, "SubmissionSetStatus", "Original")
        return Answer(response, outcome=f"{len(documents)} documents")

    # -- ITI-43 -------------------------------------------------------------------------------------------------

    def retrieve(self, claims: VihfClaims, body: etree._Element) -> Answer:
        response = etree.Element(f"{{{NS_XDSB}}}RetrieveDocumentSetResponse", nsmap={"xdsb": NS_XDSB, "rs": NS_RS})
        try:
            if body.tag != f"{{{NS_XDSB}}}RetrieveDocumentSetRequest":
                raise XdsFailure("XDSRegistryMetadataError", "RetrieveDocumentSetRequest attendu.")
            self._validate(body)
            patient = self._patient_for_xds(claims)
            self._require_consultation(patient, claims)
        except XdsFailure as failure:
            response.append(registry_response(FAILURE, failure.errors))
            return Answer(response, outcome=failure.errors[0][0])
        errors: list[tuple[str, str]] = []
        found: list[tuple[str, StoredDocument]] = []
        for request in body.findall(f"{{{NS_XDSB}}}DocumentRequest"):
            repository = (request.findtext(f"{{{NS_XDSB}}}RepositoryUniqueId") or "").strip()
            unique_id = (request.findtext(f"{{{NS_XDSB}}}DocumentUniqueId") or "").strip()
            if repository != REPOSITORY_UNIQUE_ID:
                errors.append(("XDSUnknownRepositoryId", f"Entrepôt inconnu : {repository}."))
                continue
            candidates = [
                d
                for d in self.store.documents_by_unique_id(unique_id)
                if d.patient == patient.ins and self._visible(d, claims)
            ]
            if not candidates:
                errors.append(("XDSMissingDocument", f"Document inconnu : {unique_id}."))
                continue
            found.append((unique_id, candidates[-1]))
        status = FAILURE if not found else PARTIAL if errors else SUCCESS
        response.append(registry_response(status, errors))
        attachments = []
        for index, (unique_id, document) in enumerate(found, start=1):
            content_id = f"document{index}@sandbox-dmp"
            item = etree.SubElement(response, f"{{{NS_XDSB}}}DocumentResponse")
            etree.SubElement(item, f"{{{NS_XDSB}}}RepositoryUniqueId").text = document.repository
            etree.SubElement(item, f"{{{NS_XDSB}}}DocumentUniqueId").text = unique_id
            etree.SubElement(item, f"{{{NS_XDSB}}}mimeType").text = document.mime_type
            container = etree.SubElement(item, f"{{{NS_XDSB}}}Document")
            etree.SubElement(container, f"{{{_NS_XOP}}}Include", nsmap={"xop": _NS_XOP}).set(
                "href", f"cid:{content_id}"
            )
            attachments.append((content_id, document.mime_type, self.store.content(document.entry_uuid)))
        return Answer(response, attachments=attachments, outcome=f"{len(found)} documents")

    # -- ITI-57 -------------------------------------------------------------------------------------------------

    def update(self, claims: VihfClaims, body: etree._Element) -> Answer:
        try:
            return self._update(claims, body)
        except XdsFailure as failure:
            return Answer(registry_response(FAILURE, failure.errors), outcome=failure.errors[0][0])

    def _update(self, claims: VihfClaims, body: etree._Element) -> Answer:
        if body.tag != f"{{{NS_LCM}}}SubmitObjectsRequest":
            raise XdsFailure("XDSMetadataUpdateError", "lcm:SubmitObjectsRequest attendu.")
        self._validate(body)
        patient = self._patient_for_xds(claims)
        self._require_open(patient)
        objects = body.find(f"{R}RegistryObjectList")
        assert objects is not None
        packages = [p for p in objects.findall(f"{R}RegistryPackage") if is_submission_set(p)]
        if len(packages) != 1:
            raise XdsFailure("XDSMetadataUpdateError", "Un lot de soumission (SubmissionSet) et un seul attendu.")
        package = packages[0]
        if external_id(package, rim.SS_PATIENT_ID) != patient.ins:
            raise XdsFailure("XDSPatientIdDoesNotMatch", "Le patient du lot diffère du resource-id du VIHF.")
        associations = objects.findall(f"{R}Association")
        status_updates = [a for a in associations if a.get("associationType") == UPDATE_AVAILABILITY]
        entries = objects.findall(f"{R}ExtrinsicObject")
        if status_updates and entries:
            raise XdsFailure("XDSMetadataUpdateError", "Une seule sorte de mise à jour par requête (sandbox).")
        if not status_updates and not entries:
            raise XdsFailure("XDSMetadataUpdateError", "Aucune mise à jour dans la requête.")
        submission_time = slot1(package, "submissionTime") or _now_dtm()
        with self.store.write() as db:
            ss_uuid = f"urn:uuid:{uuid.uuid4()}"
            new_set = NewSubmissionSet(
                entry_uuid=ss_uuid,
                unique_id=external_id(package, rim.SS_UNIQUE_ID) or f"2.25.{uuid.uuid4().int}",
                patient=patient.ins,
                submission_time=submission_time,
                author_national_id=claims.national_id,
                metadata=registry_form(package, ss_uuid, None, {}),
            )
            if status_updates:
                for association in status_updates:
                    self._status_update(db, claims, patient, association)
                self.store.insert_submission(db, new_set)
                return Answer(registry_response(SUCCESS), outcome="status")
            members = {a.get("targetObject"): a for a in associations if a.get("associationType") == HAS_MEMBER}
            deprecate: list[str] = []
            for eo in entries:
                member = members.get(eo.get("id"))
                previous_version = slot1(member, "PreviousVersion") if member is not None else ""
                if not eo.get("lid") or not previous_version:
                    raise XdsFailure(
                        "XDSMetadataUpdateError", "Nouvelle version : lid et PreviousVersion obligatoires."
                    )
                versions = [d for d in self._by_logical_id(db, eo.get("lid", "")) if d.patient == patient.ins]
                if not versions:
                    raise XdsFailure("XDSMetadataUpdateError", f"Document inconnu : {eo.get('lid')}.")
                current = versions[-1]
                if str(current.version) != previous_version or current.status not in (APPROVED, ARCHIVED):
                    raise XdsFailure(
                        "XDSMetadataVersionError",
                        f"Version {previous_version} périmée : la version courante est {current.version}.",
                    )
                if external_id(eo, rim.DE_UNIQUE_ID) != current.unique_id:
                    raise XdsFailure("XDSMetadataUpdateError", "Le uniqueId d'un document ne change pas.")
                if external_id(eo, rim.DE_PATIENT_ID) != patient.ins:
                    raise XdsFailure("XDSPatientIdDoesNotMatch", "patientId différent du resource-id du VIHF.")
                confidentiality = classifications(eo, rim.DE_CONFIDENTIALITY_CODE)
                if not confidentiality or not all(self.value_sets.confidentiality_ok(c, s) for c, s in confidentiality):
                    raise XdsFailure("XDSMetadataUpdateError", f"confidentialityCode hors JDV_J58 ({confidentiality}).")
                if current.author_national_id != claims.national_id:
                    state, _ = self.authorization(patient, claims.national_id)
                    if state != "VALIDE":
                        raise XdsFailure(
                            "DMP_ACCES_INTERDIT", "Modification réservée à l'auteur ou à un professionnel autorisé."
                        )
                entry_uuid = f"urn:uuid:{uuid.uuid4()}"
                metadata = registry_form(
                    eo,
                    entry_uuid,
                    current.logical_id,
                    {
                        "hash": current.hash,
                        "size": str(current.size),
                        "repositoryUniqueId": current.repository,
                        "submissionTime": submission_time,
                    },
                )
                new_set.documents.append(
                    NewDocument(
                        entry_uuid=entry_uuid,
                        logical_id=current.logical_id,
                        unique_id=current.unique_id,
                        version=current.version + 1,
                        patient=patient.ins,
                        status=current.status,
                        metadata=metadata,
                        content=self.store.content(current.entry_uuid),
                        hash=current.hash,
                        size=current.size,
                        mime_type=current.mime_type,
                        repository=current.repository,
                        submission_set=ss_uuid,
                        submission_time=submission_time,
                        author_national_id=current.author_national_id,
                        confidentiality=tuple(c for c, _ in confidentiality),
                        class_code=current.class_code,
                        type_code=current.type_code,
                        creation_time=current.creation_time,
                        service_start_time=current.service_start_time,
                    )
                )
                deprecate.append(current.entry_uuid)
            self.store.insert_submission(db, new_set)
            for entry_uuid in deprecate:
                self.store.set_status(db, entry_uuid, DEPRECATED)
        return Answer(registry_response(SUCCESS), outcome="new_version")

    def _by_logical_id(self, db: Any, logical_id: str) -> list[StoredDocument]:
        rows = db.execute("SELECT entry_uuid FROM documents WHERE logical_id = ? ORDER BY version", (logical_id,))
        return [d for row in rows.fetchall() if (d := self.store.document(row[0], db)) is not None]

    def _status_update(self, db: Any, claims: VihfClaims, patient: PatientState, association: etree._Element) -> None:
        target = association.get("targetObject", "")
        document = self.store.document(target, db)
        if document is None:
            versions = self._by_logical_id(db, target)
            document = versions[-1] if versions else None
        if document is None or document.patient != patient.ins:
            raise XdsFailure("XDSMetadataUpdateError", f"Document inconnu pour ce patient : {target}.")
        original, new = slot1(association, "OriginalStatus"), slot1(association, "NewStatus")
        if original != document.status:
            raise XdsFailure("XDSMetadataUpdateError", f"OriginalStatus {original} ≠ statut actuel {document.status}.")
        allowed = {(APPROVED, DELETED), (ARCHIVED, DELETED), (APPROVED, ARCHIVED), (ARCHIVED, APPROVED)}
        if (original, new) not in allowed:
            raise XdsFailure("XDSMetadataUpdateError", f"Changement de statut non permis : {original} → {new}.")
        if new == DELETED and document.author_national_id != claims.national_id:
            raise XdsFailure("DMP_AUTEUR_REQUIS", "Seul l'auteur du document peut le supprimer du DMP.")
        if new == DELETED:
            # The document is deleted, not one of its metadata versions: every version disappears (TD3.3c).
            for version in self._by_logical_id(db, document.logical_id):
                self.store.set_status(db, version.entry_uuid, DELETED)
        else:
            self.store.set_status(db, document.entry_uuid, new)


def _split_list(text: str) -> list[str]:
    """Items of an ITI-18 value list: 'a','b' (quotes doubled inside) or bare numbers (ITI TF-2a §3.18.4.1.2.3.5)."""
    items: list[str] = []
    current, inside, quoted_item, i = "", False, False, 0
    while i < len(text):
        char = text[i]
        if inside:
            if char == "'" and text[i + 1 : i + 2] == "'":
                current += "'"
                i += 2
                continue
            if char == "'":
                inside = False
            else:
                current += char
        elif char == "'":
            inside, quoted_item = True, True
        elif char == ",":
            items.append(current if quoted_item else current.strip())
            current, quoted_item = "", False
        else:
            current += char
        i += 1
    if current.strip() or quoted_item:
        items.append(current if quoted_item else current.strip())
    return items
