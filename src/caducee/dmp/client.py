"""DmpClient: `caducee.dmp.api.DmpApi` over the wire (docs/dmp.md), and the `dmp_client()` factory.

One `requests.Session` per endpoint (keep-alive pool, mutual TLS with the structure's authentication certificate,
server checked against the CA bundle), bounded connect/read timeouts and answer size. Each call carries a VIHF built
from the caller (+ the patient's INS as resource-id, software name/version from settings, issuer = DN of the
signature certificate) and signed with the signature key; a signed VIHF is reused for the same caller and patient
during a minute of its five-minute validity (throughput: signing is the costly part of a small call).

Error mapping (api.py): network, TLS, timeout, HTTP 5xx, SOAP Receiver fault → DmpUnavailable; SOAP Sender fault,
ebRS Failure, HTTP 4xx → DmpRejected; anything unparseable or hostile → DmpInvalidResponse. Signature documents of the
lots (IHE DSG) are left out of search results: the product only deals with clinical documents.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
import uuid
from collections.abc import Sequence

import requests
from django.conf import settings
from lxml import etree
from requests.adapters import HTTPAdapter

from caducee.core.oids import OID_PS_NATIONAL_ID
from caducee.dmp import hl7v3, mtom, registry, soap, vihf, xades
from caducee.dmp.api import (
    AUTHORIZATION_ADD,
    STATUS_APPROVED,
    STATUS_DELETED,
    DmpApi,
    DmpCaller,
    DmpDocument,
    DmpInvalidResponse,
    DmpPatientStatus,
    DmpRejected,
    DmpSubmitResult,
    DmpUnavailable,
)
from caducee.dmp.endpoint import DmpEndpoint, dmp_endpoint
from caducee.documents.xds import NS_LCM, NS_RIM, NS_XDSB, SubmissionInfo, XdsAuthor, XdsDocumentEntry, hl7_escape

ACTION_TD02 = "urn:hl7-org:v3:PRPA_IN201307UV02"
ACTION_TD02_RESPONSE = "urn:hl7-org:v3:PRPA_IN201308UV02"
ACTION_TD03 = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"
ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI43 = "urn:ihe:iti:2007:RetrieveDocumentSet"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
CONNECT_TIMEOUT_SECONDS = 5.0
VIHF_VALIDITY_SECONDS = 300
VIHF_REUSE_SECONDS = 60


def new_oid() -> str:
    """A fresh OID under 2.25 (ITU-T X.667: UUID as OID) for submission sets and signature documents."""
    return f"2.25.{uuid.uuid4().int}"


class DmpClient:
    def __init__(
        self,
        endpoint: DmpEndpoint,
        *,
        timeout: float | None = None,
        max_response_bytes: int = soap.MAX_MESSAGE_BYTES,
        sender_oid: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = (CONNECT_TIMEOUT_SECONDS, float(timeout or settings.DMP_TIMEOUT_SECONDS))
        self.max_response_bytes = max_response_bytes
        # Until the CNDA assigns one, the sending system is named by a stable UUID-derived OID of the software.
        self.sender_oid = (
            sender_oid or f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:caducee:' + settings.SOFTWARE_NAME).int}"
        )
        self._sign_key = endpoint.sign_key.read_bytes()
        self._sign_cert = endpoint.sign_cert.read_bytes()
        self._issuer = vihf.issuer_from_cert(self._sign_cert)
        self._session = requests.Session()
        # Passed on every request too: REQUESTS_CA_BUNDLE overrides a Session's `verify` (psf/requests#3829).
        self._cert = (str(endpoint.client_cert), str(endpoint.client_key))
        self._verify: str | bool = str(endpoint.ca_bundle) if endpoint.ca_bundle else True
        self._session.cert, self._session.verify = self._cert, self._verify
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self._session.mount("https://", adapter)
        self._vihf_cache: dict[tuple[DmpCaller, str | None], tuple[float, etree._Element]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _vihf(self, caller: DmpCaller, ins: str | None) -> etree._Element:
        key, now = (caller, ins), time.monotonic()
        with self._lock:
            cached = self._vihf_cache.get(key)
        if cached and now - cached[0] < VIHF_REUSE_SECONDS:
            return copy.deepcopy(cached[1])
        try:
            assertion = vihf.build_vihf(
                issuer=self._issuer,
                subject_national_id=caller.national_id,
                subject_name=caller.name,
                auth_mode=caller.auth_mode,
                structure_id=caller.structure_id,
                sector=caller.sector,
                role=caller.profession,
                specialty=caller.specialty,
                patient_ins=ins,
                software_name=settings.SOFTWARE_NAME,
                software_version=settings.SOFTWARE_VERSION,
                now=dt.datetime.now(dt.UTC),
                validity_seconds=VIHF_VALIDITY_SECONDS,
                secret_connection=caller.secret_connection,
                role_display=caller.profession_display,
                specialty_display=caller.specialty_display,
                homologation_id=settings.DMP_HOMOLOGATION_ID or None,
            )
        except vihf.VihfError as exc:
            raise DmpRejected(f"Jeton d'identification (VIHF) impossible à construire : {exc}.") from exc
        signed = vihf.sign_vihf(assertion, self._sign_key, self._sign_cert)
        with self._lock:
            if len(self._vihf_cache) > 1000:
                self._vihf_cache.clear()
            self._vihf_cache[key] = (now, signed)
        return copy.deepcopy(signed)

    def _post(self, url: str, data: bytes, content_type: str) -> tuple[int, str, bytes]:
        try:
            with self._session.post(
                url,
                data=data,
                headers={"Content-Type": content_type},
                timeout=self.timeout,
                stream=True,
                verify=self._verify,
                cert=self._cert,
            ) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_response_bytes:
                    raise DmpInvalidResponse("Réponse du DMP trop volumineuse.")
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise DmpInvalidResponse("Réponse du DMP trop volumineuse.")
                    chunks.append(chunk)
                return response.status_code, response.headers.get("Content-Type", ""), b"".join(chunks)
        except requests.exceptions.SSLError as exc:
            raise DmpUnavailable("Connexion sécurisée au DMP impossible (certificat ou TLS refusé).") from exc
        except requests.exceptions.Timeout as exc:
            raise DmpUnavailable("Le DMP n'a pas répondu à temps : nouvel essai plus tard.") from exc
        except requests.exceptions.RequestException as exc:
            raise DmpUnavailable("DMP injoignable (réseau) : nouvel essai plus tard.") from exc

    def _call(
        self,
        service: str,
        action: str,
        body: etree._Element,
        caller: DmpCaller,
        ins: str | None,
        parts: Sequence[mtom.Part] = (),
    ) -> tuple[soap.SoapMessage, dict[str, bytes]]:
        url = self.endpoint.service(service)
        envelope, message_id = soap.request_envelope(body, action=action, to=url, assertion=self._vihf(caller, ins))
        xml = soap.serialize(envelope)
        if parts:
            data, content_type = mtom.encode(xml, parts, action=action)
        else:
            data, content_type = xml, mtom.soap_content_type(action)
        status, answer_type, answer = self._post(url, data, content_type)
        try:
            root, answer_parts = mtom.decode(answer_type, answer)
            message = soap.parse_envelope(root, max_bytes=self.max_response_bytes)
        except DmpInvalidResponse:
            if status >= 500:
                raise DmpUnavailable(
                    f"Le DMP est momentanément indisponible (HTTP {status}).", code=str(status)
                ) from None
            if status >= 400:
                raise DmpRejected(f"Le DMP a refusé la demande (HTTP {status}).", code=str(status)) from None
            raise
        if status >= 500:
            raise DmpUnavailable(f"Le DMP est momentanément indisponible (HTTP {status}).", code=str(status))
        if not 200 <= status < 300:
            raise DmpRejected(f"Le DMP a refusé la demande (HTTP {status}).", code=str(status))
        soap.check_answer(message, action=action, message_id=message_id, response_actions=(ACTION_TD02_RESPONSE,))
        return message, answer_parts

    def _registry(self, caller: DmpCaller, ins: str, request: etree._Element) -> list[DmpDocument]:
        message, _ = self._call("registry", ACTION_ITI18, request, caller, ins)
        documents, _sets = registry.parse_adhoc_query_response(message.body)
        return [d for d in documents if d.class_code.code != xades.SIGNATURE_CLASS.code]

    # -- DmpApi --------------------------------------------------------------------------------------------------

    def test_existence(self, caller: DmpCaller, ins: str) -> DmpPatientStatus:
        try:
            request = hl7v3.td02_request(ins, sender_oid=self.sender_oid)
        except ValueError as exc:
            raise DmpRejected(str(exc)) from exc
        message, _ = self._call("patients", ACTION_TD02, request, caller, ins)
        return hl7v3.parse_td02_response(message.body, ins)

    def set_authorization(self, caller: DmpCaller, ins: str, action: str = AUTHORIZATION_ADD) -> DmpPatientStatus:
        """TD0.3 then TD0.2: the status after the change (INTERDITE, closed or absent DMP show in it)."""
        try:
            request = hl7v3.td03_request(action)
        except ValueError as exc:
            raise DmpRejected(str(exc)) from exc
        message, _ = self._call("habilitations", ACTION_TD03, request, caller, ins)
        hl7v3.parse_td03_response(message.body)
        return self.test_existence(caller, ins)

    def provide_and_register(
        self,
        caller: DmpCaller,
        entries: Sequence[XdsDocumentEntry],
        submission: SubmissionInfo,
        *,
        replaces: str | None = None,
    ) -> DmpSubmitResult:
        if not entries:
            raise DmpRejected("Aucun document à envoyer au DMP.")
        signature = xades.sign_lot({e.unique_id: e.content for e in entries}, self._sign_key, self._sign_cert)
        sig_entry = xades.signature_entry(entries, signature, new_oid())
        request = xades.signed_request(entries, submission, sig_entry)
        if replaces:
            objects = request.find(f"{{{NS_LCM}}}SubmitObjectsRequest/{{{NS_RIM}}}RegistryObjectList")
            assert objects is not None
            association = etree.SubElement(objects, f"{{{NS_RIM}}}Association", id="as-rplc")
            association.set("associationType", registry.RPLC)
            association.set("sourceObject", entries[0].entry_id)
            association.set("targetObject", replaces)
        parts = []
        by_id = {e.entry_id: e for e in [*entries, sig_entry]}
        for node in request.iterfind(f"{{{NS_XDSB}}}Document"):
            entry = by_id[node.get("id", "")]
            mtom.include(node, entry.content_id)
            parts.append(mtom.Part(entry.content_id, entry.content, entry.mime_type))
        message, _ = self._call("repository", ACTION_ITI41, request, caller, entries[0].patient_id, parts)
        status, warnings = registry.parse_registry_response(message.body)
        if status != registry.SUCCESS:
            registry.raise_registry_errors(message.body)
        duplicates = {w.context for w in warnings if w.code == registry.DUPLICATE_SAME_HASH}
        unique_ids = tuple(e.unique_id for e in entries)
        return DmpSubmitResult(
            submission_set_unique_id=submission.unique_id,
            document_unique_ids=unique_ids,
            already_registered=set(unique_ids) <= duplicates,
        )

    def find_documents(
        self,
        caller: DmpCaller,
        ins: str,
        *,
        service_start_from: str | None = None,
        statuses: Sequence[str] = (STATUS_APPROVED,),
    ) -> list[DmpDocument]:
        return self._registry(caller, ins, registry.find_documents_query(ins, statuses, service_start_from))

    def find_new_documents(self, caller: DmpCaller, ins: str, *, submitted_from: str) -> list[DmpDocument]:
        message, _ = self._call(
            "registry", ACTION_ITI18, registry.find_submission_sets_query(ins, submitted_from), caller, ins
        )
        _docs, sets = registry.parse_adhoc_query_response(message.body)
        found: dict[str, DmpDocument] = {}
        for ss in sets:
            for document in self._registry(caller, ins, registry.get_submission_set_and_contents_query(ss.entry_uuid)):
                if document.status == STATUS_APPROVED:
                    found.setdefault(document.entry_uuid, document)
        return list(found.values())

    def find_by_unique_id(self, caller: DmpCaller, ins: str, unique_id: str) -> DmpDocument | None:
        documents = self._registry(caller, ins, registry.get_documents_query(unique_ids=[unique_id]))
        versions = [d for d in documents if d.unique_id == unique_id]
        if not versions:
            return None
        # The latest metadata version tells the entry's state (older ones are Deprecated by ITI-57).
        latest = max(versions, key=lambda d: (d.version, d.status == STATUS_APPROVED))
        return None if latest.status == STATUS_DELETED else latest

    def retrieve(self, caller: DmpCaller, ins: str, document: DmpDocument) -> bytes:
        request = registry.retrieve_request(document.repository_unique_id, document.unique_id)
        message, parts = self._call("repository", ACTION_ITI43, request, caller, ins)
        return registry.parse_retrieve_response(message.body, parts, document)

    def _submission(self, caller: DmpCaller) -> tuple[SubmissionInfo, XdsAuthor]:
        given, _, family = caller.name.strip().partition(" ")
        person = f"{hl7_escape(caller.national_id)}^{hl7_escape(family or given)}^{hl7_escape(given if family else '')}"
        person += f"^^^^^^&{OID_PS_NATIONAL_ID}&ISO^D^^^IDNPS"
        info = SubmissionInfo(unique_id=new_oid(), source_id=self.sender_oid, submission_time=dt.datetime.now(dt.UTC))
        return info, XdsAuthor(person=person)

    def _submit_update(self, caller: DmpCaller, ins: str, request: etree._Element) -> None:
        message, _ = self._call("registry", ACTION_ITI57, request, caller, ins)
        status, _warnings = registry.parse_registry_response(message.body)
        if status != registry.SUCCESS:
            registry.raise_registry_errors(message.body)

    def update_confidentiality(
        self, caller: DmpCaller, ins: str, document: DmpDocument, confidentiality: Sequence[str]
    ) -> DmpDocument:
        submission, author = self._submission(caller)
        try:
            request = registry.update_metadata_request(
                document, confidentiality, patient_id=ins, submission=submission, author=author
            )
        except ValueError as exc:
            raise DmpRejected(str(exc)) from exc
        self._submit_update(caller, ins, request)
        updated = self.find_by_unique_id(caller, ins, document.unique_id)
        if updated is None:
            raise DmpInvalidResponse("Le DMP ne retrouve pas le document après la modification de sa visibilité.")
        return updated

    def update_status(self, caller: DmpCaller, ins: str, document: DmpDocument, new_status: str) -> None:
        submission, author = self._submission(caller)
        request = registry.update_status_request(
            document, new_status, patient_id=ins, submission=submission, author=author
        )
        self._submit_update(caller, ins, request)


_clients: dict[DmpEndpoint, DmpClient] = {}
_clients_lock = threading.Lock()


def dmp_client() -> DmpApi:
    """The client of the configured endpoint, one per endpoint so its connections are reused."""
    endpoint = dmp_endpoint()
    with _clients_lock:
        client = _clients.get(endpoint)
        if client is None:
            client = _clients[endpoint] = DmpClient(endpoint)
        return client
