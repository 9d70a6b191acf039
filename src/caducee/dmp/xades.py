"""XAdES signature of a DMP submission set (IHE DSG over an IHE manifest) and its place in the ITI-41 request.

Sources: IHE ITI TF Suppl. Document Digital Signature (DSG): a `ds:Signature` whose SignedInfo references a
`ds:Manifest Id="IHEManifest"` (one Reference per document, URI = `urn:oid:` + uniqueId, digest of the document's
bytes) and the XAdES SignedProperties; the signature is a document of the lot (classCode
`urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1`, typeCode `E1762`, formatCode `http://www.w3.org/2000/09/xmldsig#`, eventCode
`1.2.840.10065.1.12.1.14` "Source", association `urn:ihe:iti:2007:AssociationType:signs` Signature → SubmissionSet);
ETSI EN 319 132-1 V1.1.1 (XAdES baseline B, namespace v1.3.2#: SigningTime, SigningCertificate,
CommitmentTypeIndication); notes §1.3 "Lot signature" and docs/dmp.md §XDS transactions.

Choices: RSA-SHA256 and exclusive c14n (same as the VIHF); SHA-256 digests in the manifest (DSG allows it; DRIMbox
sends SHA-1: to confirm with the CNDA kit). Built by hand with lxml + cryptography (signxml's XAdESSigner cannot put a
Manifest in an enveloping signature). Only the signing side is here: the DMP verifies (the sandbox with its own code,
`caducee.sandbox.dmp.signature`, which the tests run on what this module signs).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from caducee.dmp.keys import SigningKeyError, rsa_signing_key
from caducee.documents import xds_codes as codes
from caducee.documents.xds import NS_LCM, NS_RIM, SubmissionInfo, XdsDocumentEntry, provide_and_register_request
from caducee.documents.xds_codes import XdsCode

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XADES = "http://uri.etsi.org/01903/v1.3.2#"
_D, _X, _R = f"{{{NS_DS}}}", f"{{{NS_XADES}}}", f"{{{NS_RIM}}}"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
MANIFEST_ID = "IHEManifest"
PURPOSE_SOURCE = "1.2.840.10065.1.12.1.14"  # ASTM E1762 "Source" (author's signature)

SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
DE_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"  # ITI TF-3 §4.2.5 eventCodeList
SIGNATURE_CLASS = XdsCode("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
SIGNATURE_TYPE = XdsCode("E1762", "ASTM", "Full Document")
SIGNATURE_FORMAT = XdsCode("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style")
SIGNATURE_EVENT = XdsCode(PURPOSE_SOURCE, "1.2.840.10065.1.12", "Source")
_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")


class LotSignatureError(ValueError):
    """The lot cannot be signed (no document, unusable signing key); French message."""


def manifest_uri(unique_id: str) -> str:
    """`urn:oid:<uniqueId>` (DSG); a `root^extension` uniqueId is percent-encoded to stay a URI."""
    return "urn:oid:" + (unique_id if _OID.match(unique_id) else quote(unique_id, safe=".-_~"))


def _c14n(node: etree._Element) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _reference(parent: etree._Element, uri: str, digest: bytes, *, type_: str = "", transform: bool) -> None:
    ref = etree.SubElement(parent, _D + "Reference", URI=uri)
    if type_:
        ref.set("Type", type_)
    if transform:
        etree.SubElement(etree.SubElement(ref, _D + "Transforms"), _D + "Transform", Algorithm=EXC_C14N)
    etree.SubElement(ref, _D + "DigestMethod", Algorithm=SHA256)
    etree.SubElement(ref, _D + "DigestValue").text = _b64(digest)


@functools.lru_cache(maxsize=8)
def _signing_material(key_pem: bytes, cert_pem: bytes) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Loaded once per key: loading (and checking) an RSA key costs more than signing with it."""
    try:
        key = rsa_signing_key(key_pem)
    except SigningKeyError as exc:
        raise LotSignatureError(str(exc)) from exc
    return key, x509.load_pem_x509_certificate(cert_pem)


def sign_lot(
    documents: Mapping[str, bytes], key_pem: bytes, cert_pem: bytes, *, now: dt.datetime | None = None
) -> bytes:
    """The detached XAdES signature (XML bytes) of the documents {uniqueId: bytes} of one lot."""
    if not documents:
        raise LotSignatureError("aucun document à signer.")
    key, cert = _signing_material(key_pem, cert_pem)
    sig_id = f"sig-{uuid.uuid4()}"
    props_id = f"{sig_id}-signedprops"
    signature = etree.Element(_D + "Signature", nsmap={"ds": NS_DS}, Id=sig_id)
    signed_info = etree.SubElement(signature, _D + "SignedInfo")
    etree.SubElement(signed_info, _D + "CanonicalizationMethod", Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _D + "SignatureMethod", Algorithm=RSA_SHA256)
    value = etree.SubElement(signature, _D + "SignatureValue")
    x509_data = etree.SubElement(etree.SubElement(signature, _D + "KeyInfo"), _D + "X509Data")
    etree.SubElement(x509_data, _D + "X509Certificate").text = _b64(cert.public_bytes(serialization.Encoding.DER))

    qualifying = etree.SubElement(
        etree.SubElement(signature, _D + "Object"),
        _X + "QualifyingProperties",
        nsmap={"xades": NS_XADES},
        Target=f"#{sig_id}",
    )
    props = etree.SubElement(qualifying, _X + "SignedProperties", Id=props_id)
    ssp = etree.SubElement(props, _X + "SignedSignatureProperties")
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    etree.SubElement(ssp, _X + "SigningTime").text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    cert_node = etree.SubElement(etree.SubElement(ssp, _X + "SigningCertificate"), _X + "Cert")
    cert_digest = etree.SubElement(cert_node, _X + "CertDigest")
    etree.SubElement(cert_digest, _D + "DigestMethod", Algorithm=SHA256)
    etree.SubElement(cert_digest, _D + "DigestValue").text = _b64(cert.fingerprint(hashes.SHA256()))
    issuer_serial = etree.SubElement(cert_node, _X + "IssuerSerial")
    etree.SubElement(issuer_serial, _D + "X509IssuerName").text = cert.issuer.rfc4514_string()
    etree.SubElement(issuer_serial, _D + "X509SerialNumber").text = str(cert.serial_number)
    sdop = etree.SubElement(props, _X + "SignedDataObjectProperties")
    commitment = etree.SubElement(sdop, _X + "CommitmentTypeIndication")
    etree.SubElement(
        etree.SubElement(commitment, _X + "CommitmentTypeId"), _X + "Identifier"
    ).text = f"urn:oid:{PURPOSE_SOURCE}"
    etree.SubElement(commitment, _X + "AllSignedDataObjects")

    manifest = etree.SubElement(etree.SubElement(signature, _D + "Object"), _D + "Manifest", Id=MANIFEST_ID)
    for unique_id, content in documents.items():
        _reference(manifest, manifest_uri(unique_id), hashlib.sha256(content).digest(), transform=False)

    _reference(
        signed_info,
        f"#{MANIFEST_ID}",
        hashlib.sha256(_c14n(manifest)).digest(),
        type_=NS_DS + "Manifest",
        transform=True,
    )
    _reference(
        signed_info,
        f"#{props_id}",
        hashlib.sha256(_c14n(props)).digest(),
        type_="http://uri.etsi.org/01903#SignedProperties",
        transform=True,
    )
    value.text = _b64(key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256()))
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


def signature_entry(entries: Sequence[XdsDocumentEntry], signature: bytes, unique_id: str) -> XdsDocumentEntry:
    """The DocumentEntry of the signature document: the lot's patient/author/setting, the DSG codes, N."""
    first = entries[0]
    return dataclasses.replace(
        first,
        entry_id="Signature01",
        unique_id=unique_id,
        title="Signature du lot",
        class_code=SIGNATURE_CLASS,
        type_code=SIGNATURE_TYPE,
        format_code=SIGNATURE_FORMAT,
        confidentiality=(XdsCode("N", codes.HL7_CONFIDENTIALITY, codes.CONFIDENTIALITY["N"]),),
        hash=hashlib.sha1(signature).hexdigest(),  # noqa: S324 - XDS hash is SHA-1 (ITI TF-3 §4.2.3.2.18)
        size=len(signature),
        content=signature,
        mime_type="text/xml",
        service_stop_time="",
    )


def signed_request(
    entries: Sequence[XdsDocumentEntry], submission: SubmissionInfo, signature: XdsDocumentEntry
) -> etree._Element:
    """The ITI-41 request of the documents plus the signature document: HasMember (by xds) + eventCode + `signs`."""
    request = provide_and_register_request([*entries, signature], submission)
    objects = request.find(f"{{{NS_LCM}}}SubmitObjectsRequest/{_R}RegistryObjectList")
    assert objects is not None
    eo = objects.find(f"{_R}ExtrinsicObject[@id='{signature.entry_id}']")
    assert eo is not None
    event = etree.Element(_R + "Classification", id="cl-sig-event", classificationScheme=DE_EVENT_CODE)
    event.set("classifiedObject", signature.entry_id)
    event.set("nodeRepresentation", SIGNATURE_EVENT.code)
    slot = etree.SubElement(etree.SubElement(event, _R + "Slot", name="codingScheme"), _R + "ValueList")
    etree.SubElement(slot, _R + "Value").text = SIGNATURE_EVENT.scheme
    name = etree.SubElement(etree.SubElement(event, _R + "Name"), _R + "LocalizedString", value=SIGNATURE_EVENT.display)
    name.set("charset", "UTF-8")
    eo.find(f"{_R}ExternalIdentifier").addprevious(event)  # type: ignore[union-attr]
    package = objects.find(f"{_R}RegistryPackage")
    assert package is not None
    etree.SubElement(
        objects,
        _R + "Association",
        id="as-signs",
        associationType=SIGNS,
        sourceObject=signature.entry_id,
        targetObject=package.get("id", ""),
    )
    return request
