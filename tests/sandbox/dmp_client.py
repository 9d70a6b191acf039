"""A raw wire-level client of the DMP sandbox, for the sandbox's tests (a test helper: src never imports it).

It builds what docs/dmp.md says a DMPi client sends, with the product's own builders — the VIHF signed with the
sandbox's signature certificate (`caducee.dmp.vihf`), ITI-41 bodies from `caducee.documents.xds` with the lot's
signature document (`caducee.dmp.xades`: classCode urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1, HasMember + `signs`, notes
§1.3) — in SOAP 1.2 + WS-Addressing envelopes sent MTOM/XOP. The sandbox reads them with its own code: the two
implementations meet only on the wire. Every knob a test needs to send a bad request is a keyword argument.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from lxml import etree

from caducee.core.oids import NS_SOAP12, OID_INS_NIR_TEST, OID_PS_NATIONAL_ID
from caducee.dmp import hl7v3, registry, soap, vihf, xades
from caducee.dmp import mtom as mtom_codec
from caducee.dmp.api import DmpInvalidResponse
from caducee.documents import xds_codes as codes
from caducee.documents.xds import (
    NS_LCM,
    NS_RIM,
    NS_XDSB,
    SubmissionInfo,
    XdsAuthor,
    XdsDocumentEntry,
    ins_cx,
    provide_and_register_request,
)
from caducee.documents.xds_codes import XdsCode
from caducee.sandbox.dmp.server import (
    ACTION_ITI18,
    ACTION_ITI41,
    ACTION_ITI43,
    ACTION_ITI57,
    ACTION_TD02,
    ACTION_TD03,
)

_R = f"{{{NS_RIM}}}"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class Professional:
    national_id: str
    name: str
    structure_id: str = "3123456789"
    sector: str = "SA07"
    role: str = "10"
    specialty: str | None = "SM54"
    auth_mode: str = "INDIRECTE"

    @property
    def xcn(self) -> str:
        family = self.name.split(" ")[-1]
        given = self.name.split(" ")[0]
        return f"{self.national_id}^{family}^{given}^^^^^^&{OID_PS_NATIONAL_ID}&ISO^D^^^IDNPS"


CONSULTATION_REPORT = XdsCode("11488-4", "2.16.840.1.113883.6.1", "Compte rendu de consultation")
DR_MARTIN = Professional("889970012345", "Claire MARTIN")
DR_BERNARD = Professional("889970023456", "Hugo BERNARD")


def ins(matricule: str, oid: str = OID_INS_NIR_TEST) -> str:
    return ins_cx(matricule, oid)


def sample_entry(
    matricule: str,
    *,
    author: Professional = DR_MARTIN,
    unique_id: str | None = None,
    content: bytes | None = None,
    entry_id: str = "Document01",
    oid: str = OID_INS_NIR_TEST,
    class_code: XdsCode = codes.CLASS_REPORT,
    type_code: XdsCode = CONSULTATION_REPORT,
    format_code: XdsCode = codes.FORMAT_N1_PDF,
    visibility: Sequence[str] = (),
    service_start: str = "20261101093000",
    creation: str = "20261101100000",
    declared_hash: str | None = None,
    declared_size: int | None = None,
) -> XdsDocumentEntry:
    """A DocumentEntry for this patient (content: a tiny CDA-like XML unless given)."""
    unique_id = unique_id or f"2.25.{uuid.uuid4().int}"
    content = content if content is not None else f"<ClinicalDocument id='{unique_id}'/>".encode()
    confidentiality = [XdsCode("N", codes.HL7_CONFIDENTIALITY, "Normal")]
    confidentiality += [XdsCode(v, codes.VISIBILITY_SYSTEM, codes.VISIBILITY.get(v, v)) for v in visibility]
    return XdsDocumentEntry(
        entry_id=entry_id,
        unique_id=unique_id,
        patient_id=ins_cx(matricule, oid),
        source_patient_id=ins_cx(matricule, oid, "PI"),
        source_patient_info=("PID-5|TEST^PATIENT^^^^^L",),
        title=type_code.display,
        class_code=class_code,
        type_code=type_code,
        format_code=format_code,
        confidentiality=tuple(confidentiality),
        facility_type=XdsCode("SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel"),
        practice_setting=XdsCode("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire"),
        author=XdsAuthor(person=author.xcn),
        legal_authenticator=author.xcn,
        creation_time=creation,
        service_start_time=service_start,
        service_stop_time="",
        language_code="fr-FR",
        hash=declared_hash or hashlib.sha1(content).hexdigest(),  # noqa: S324 - XDS hash is SHA-1
        size=declared_size if declared_size is not None else len(content),
        content=content,
    )


def submission(**overrides: Any) -> SubmissionInfo:
    values: dict[str, Any] = {
        "unique_id": f"2.25.{uuid.uuid4().int}",
        "source_id": "1.2.250.1.213.4.1.9.99",
        "submission_time": dt.datetime.now(dt.UTC),
    }
    values.update(overrides)
    return SubmissionInfo(**values)


@dataclass
class Reply:
    status: int
    root: etree._Element | None  # the SOAP envelope
    parts: dict[str, bytes] = field(default_factory=dict)
    raw: bytes = b""

    @property
    def body(self) -> etree._Element:
        assert self.root is not None, self.raw[:500]
        node = self.root.find(f"{{{NS_SOAP12}}}Body")
        assert node is not None
        return node[0]

    @property
    def fault(self) -> tuple[str, str, str] | None:
        """(code, subcode, reason) of a SOAP fault, or None."""
        if self.root is None:
            return None
        soap = f"{{{NS_SOAP12}}}"
        fault = self.root.find(f"{soap}Body/{soap}Fault")
        if fault is None:
            return None
        return (
            fault.findtext(f"{soap}Code/{soap}Value") or "",
            fault.findtext(f"{soap}Code/{soap}Subcode/{soap}Value") or "",
            fault.findtext(f"{soap}Reason/{soap}Text") or "",
        )

    def registry_status(self) -> tuple[str, list[str]]:
        """(status suffix, error codes) of a RegistryResponse-bearing body."""
        body = self.body
        node = body if etree.QName(body).localname in ("RegistryResponse", "AdhocQueryResponse") else None
        if node is None:
            node = body.find("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryResponse")
        assert node is not None
        errors = [
            e.get("errorCode", "")
            for e in node.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")
            if e.get("severity", "").endswith("Error")
        ]
        return node.get("status", "").rsplit(":", 1)[-1], errors


class SandboxClient:
    def __init__(self, state: dict[str, str], *, session: requests.Session | None = None) -> None:
        """`state` is the "dmp" entry of sandbox.json."""
        self.base_url = state["url"]
        self.ca = state["ca"]
        self.cert = (state["client_cert"], state["client_key"])
        self.sign_cert = Path(state["sign_cert"]).read_bytes()
        self.sign_key = Path(state["sign_key"]).read_bytes()
        self.session = session or requests.Session()

    # -- envelope -------------------------------------------------------------------------------------------

    def vihf(
        self,
        pro: Professional,
        patient: str | None,
        *,
        now: dt.datetime | None = None,
        validity_seconds: int = 300,
        sign: bool = True,
        sign_key: bytes | None = None,
        sign_cert: bytes | None = None,
        **overrides: Any,
    ) -> etree._Element:
        cert = sign_cert or self.sign_cert
        params: dict[str, Any] = {
            "issuer": vihf.issuer_from_cert(cert),
            "subject_national_id": pro.national_id,
            "subject_name": pro.name,
            "auth_mode": pro.auth_mode,
            "structure_id": pro.structure_id,
            "sector": pro.sector,
            "role": pro.role,
            "specialty": pro.specialty,
            "patient_ins": patient,
            "software_name": "Caducee",
            "software_version": "0.1.0",
            "now": now or dt.datetime.now(dt.UTC),
            "validity_seconds": validity_seconds,
        }
        params.update(overrides)
        assertion = vihf.build_vihf(**params)
        return vihf.sign_vihf(assertion, sign_key or self.sign_key, cert) if sign else assertion

    def post(
        self,
        service: str,
        action: str,
        body: etree._Element,
        *,
        pro: Professional,
        patient: str | None,
        assertion: etree._Element | None = None,
        no_security: bool = False,
        attachments: Sequence[tuple[str, str, bytes]] = (),
        mtom: bool = False,
        timeout: float = 10,
    ) -> Reply:
        security = None if no_security else (assertion if assertion is not None else self.vihf(pro, patient))
        env, _ = soap.request_envelope(body, action=action, to=f"{self.base_url}/{service}", assertion=security)
        xml = soap.serialize(env)
        if mtom:
            parts = [mtom_codec.Part(cid, data, mime) for cid, mime, data in attachments]
            data, content_type = mtom_codec.encode(xml, parts, action=action)
        else:
            data, content_type = xml, mtom_codec.soap_content_type(action)
        response = self.session.post(
            f"{self.base_url}/{service}",
            data=data,
            headers={"Content-Type": content_type},
            cert=self.cert,
            verify=self.ca,
            timeout=timeout,
        )
        return parse_reply(response)

    # -- transactions ---------------------------------------------------------------------------------------

    def td02(self, pro: Professional, patient: str, **kwargs: Any) -> Reply:
        body = hl7v3.td02_request(patient, sender_oid="1.2.250.1.213.4.1.9.99")
        return self.post("patients", ACTION_TD02, body, pro=pro, patient=patient, **kwargs)

    def td03(self, pro: Professional, patient: str, action: str = "AJOUT", **kwargs: Any) -> Reply:
        return self.post("habilitations", ACTION_TD03, hl7v3.td03_request(action), pro=pro, patient=patient, **kwargs)

    def submit(
        self,
        pro: Professional,
        entries: Sequence[XdsDocumentEntry],
        info: SubmissionInfo | None = None,
        *,
        replaces: str | None = None,
        sign_lot: bool = True,
        patient: str | None = None,
        mutate: Any = None,
        **kwargs: Any,
    ) -> Reply:
        """ITI-41 MTOM; `mutate(request)` may alter the body before it is sent (bad-request tests)."""
        info = info or submission()
        contents = {entry.entry_id: entry.content for entry in entries}
        if sign_lot:
            signature = xades.sign_lot({e.unique_id: e.content for e in entries}, self.sign_key, self.sign_cert)
            sig_entry = xades.signature_entry(entries, signature, f"2.25.{uuid.uuid4().int}")
            request = xades.signed_request(entries, info, sig_entry)
            contents[sig_entry.entry_id] = signature
        else:
            request = provide_and_register_request(entries, info)
        if replaces:
            objects = request.find(f"{{{NS_LCM}}}SubmitObjectsRequest/{_R}RegistryObjectList")
            assert objects is not None
            etree.SubElement(
                objects,
                _R + "Association",
                id="rplc01",
                associationType=registry.RPLC,
                sourceObject=entries[0].entry_id,
                targetObject=replaces,
            )
        if mutate is not None:
            mutate(request)
        attachments = []
        for document in request.findall(f"{{{NS_XDSB}}}Document"):
            content_id = f"{document.get('id')}@caducee"
            mtom_codec.include(document, content_id)
            attachments.append((content_id, "text/xml", contents.get(document.get("id", ""), b"")))
        target = patient or entries[0].patient_id
        return self.post(
            "repository", ACTION_ITI41, request, pro=pro, patient=target, attachments=attachments, mtom=True, **kwargs
        )

    def query(self, pro: Professional, patient: str, body: etree._Element, **kwargs: Any) -> Reply:
        return self.post("registry", ACTION_ITI18, body, pro=pro, patient=patient, **kwargs)

    def retrieve(self, pro: Professional, patient: str, body: etree._Element, **kwargs: Any) -> Reply:
        return self.post("repository", ACTION_ITI43, body, pro=pro, patient=patient, **kwargs)

    def update(self, pro: Professional, patient: str, body: etree._Element, **kwargs: Any) -> Reply:
        return self.post("registry", ACTION_ITI57, body, pro=pro, patient=patient, **kwargs)


def parse_reply(response: requests.Response) -> Reply:
    content_type = response.headers.get("Content-Type", "")
    data = response.content
    parts: dict[str, bytes] = {}
    try:
        data_xml, parts = mtom_codec.decode(content_type, data)
    except DmpInvalidResponse:
        data_xml = data
    try:
        root = etree.fromstring(data_xml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        root = None
    return Reply(response.status_code, root, parts, data)
