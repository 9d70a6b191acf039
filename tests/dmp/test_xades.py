"""Lot signature (src/caducee/dmp/xades.py): XAdES over the IHE manifest, verified with signxml and by the DMP
sandbox's own check (caducee.sandbox.dmp.signature: another implementation than the signer's); the ITI-41 request."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier

from caducee.dmp import xades
from caducee.documents import xds_codes as codes
from caducee.documents.xds import NSMAP, SubmissionInfo, XdsAuthor, XdsDocumentEntry
from caducee.sandbox.dmp.signature import LotSignatureRefused, verify_lot_signature
from tests.dmp.dmp_answers import xds_schema

INS = "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOCS = {"1.2.250.1.999.1.1^9": b"<ClinicalDocument>un</ClinicalDocument>", "1.2.250.1.999.1.2": b"\x00\xffbinaire"}
NS = {"ds": xades.NS_DS, "xades": xades.NS_XADES, **NSMAP}


# --- a tiny test PKI, shared with test_client -----------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return cert, key


def issue(cn: str, ca: Issued | None = None, *, server: bool = False, days: int = 30) -> Issued:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CABINET TEST"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject if ca else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    if ca is None:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, True, True, False, False, False, False, False, False), critical=True
        )
    if server:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return Issued(key, builder.sign(ca.key if ca else key, hashes.SHA256()))


@pytest.fixture(scope="module")
def ca() -> Issued:
    return issue("TEST AC DMP")


@pytest.fixture(scope="module")
def signer(ca: Issued) -> Issued:
    return issue("CABINET TEST SIGNATURE", ca)


# --- tests ------------------------------------------------------------------------------------------------------


def test_signature_verifies_with_signxml_and_covers_the_manifest(ca: Issued, signer: Issued) -> None:
    signature = xades.sign_lot(DOCS, signer.key_pem, signer.cert_pem)
    root = etree.fromstring(signature)
    wrapper = etree.Element("w")
    wrapper.append(root)
    results = XMLVerifier().verify(
        wrapper, x509_cert=signer.cert, expect_config=SignatureConfiguration(location="./", expect_references=2)
    )
    tags = {r.signed_xml.tag for r in results}  # type: ignore[union-attr]
    assert tags == {f"{{{xades.NS_DS}}}Manifest", f"{{{xades.NS_XADES}}}SignedProperties"}
    assert root.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == xades.RSA_SHA256
    refs = root.xpath("ds:Object/ds:Manifest[@Id='IHEManifest']/ds:Reference", namespaces=NS)
    assert {r.get("URI") for r in refs} == {"urn:oid:1.2.250.1.999.1.1%5E9", "urn:oid:1.2.250.1.999.1.2"}
    by_uri = {r.get("URI"): r.findtext("ds:DigestValue", namespaces=NS) for r in refs}
    expected = base64.b64encode(hashlib.sha256(DOCS["1.2.250.1.999.1.2"]).digest()).decode()
    assert by_uri["urn:oid:1.2.250.1.999.1.2"] == expected
    props = root.find("ds:Object/xades:QualifyingProperties/xades:SignedProperties", NS)
    assert props.findtext("xades:SignedSignatureProperties/xades:SigningTime", namespaces=NS)
    cert_digest = props.findtext(
        ".//xades:SigningCertificate/xades:Cert/xades:CertDigest/ds:DigestValue", namespaces=NS
    )
    assert cert_digest == base64.b64encode(signer.cert.fingerprint(hashes.SHA256())).decode()
    assert verify_lot_signature(signature, DOCS, ca.cert_pem).subject == signer.cert.subject


def test_verification_catches_every_mismatch(ca: Issued, signer: Issued) -> None:
    signature = xades.sign_lot(DOCS, signer.key_pem, signer.cert_pem)
    with pytest.raises(LotSignatureRefused, match="empreinte"):
        verify_lot_signature(signature, {**DOCS, "1.2.250.1.999.1.2": b"autre"}, ca.cert_pem)
    with pytest.raises(LotSignatureRefused, match="pas signés"):
        verify_lot_signature(signature, {**DOCS, "1.2.3": b"en plus"}, ca.cert_pem)
    with pytest.raises(LotSignatureRefused, match="inattendue"):
        verify_lot_signature(signature, {"1.2.250.1.999.1.2": DOCS["1.2.250.1.999.1.2"]}, ca.cert_pem)
    with pytest.raises(LotSignatureRefused, match="autorité"):
        verify_lot_signature(signature, DOCS, issue("AUTRE AC").cert_pem)
    tampered = signature.replace(b"<ds:DigestValue>", b"<ds:DigestValue>AAAA", 1)
    with pytest.raises(LotSignatureRefused, match="invalide"):
        verify_lot_signature(tampered, DOCS, ca.cert_pem)
    with pytest.raises(LotSignatureRefused, match="DTD"):
        verify_lot_signature(b"<!DOCTYPE x []><x/>", DOCS, ca.cert_pem)
    with pytest.raises(LotSignatureRefused, match="mal formé"):
        verify_lot_signature(b"<ds:Signature", DOCS, ca.cert_pem)


def test_manifest_reference_swap_is_detected(ca: Issued, signer: Issued) -> None:
    """Changing a manifest digest after signing breaks the SignedInfo reference to the manifest."""
    signature = xades.sign_lot(DOCS, signer.key_pem, signer.cert_pem)
    root = etree.fromstring(signature)
    ref = root.find("ds:Object/ds:Manifest/ds:Reference/ds:DigestValue", NS)
    ref.text = base64.b64encode(hashlib.sha256(b"autre").digest()).decode()
    with pytest.raises(LotSignatureRefused, match="invalide"):
        verify_lot_signature(etree.tostring(root), DOCS, ca.cert_pem)


def test_the_xades_signing_certificate_binds_the_certificate(ca: Issued, signer: Issued) -> None:
    """Another certificate of the same key put in KeyInfo (unsigned) still verifies as XML-DSig, but not as XAdES:
    SigningCertificate (signed) names the certificate that signed."""
    signature = xades.sign_lot(DOCS, signer.key_pem, signer.cert_pem)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    twin = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "JUMEAU")]))
        .issuer_name(ca.cert.subject)
        .public_key(signer.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .sign(ca.key, hashes.SHA256())
    )
    root = etree.fromstring(signature)
    der = twin.public_bytes(serialization.Encoding.DER)
    root.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS).text = base64.b64encode(der).decode()
    with pytest.raises(LotSignatureRefused, match="SigningCertificate"):
        verify_lot_signature(etree.tostring(root), DOCS, ca.cert_pem)


def entry(unique_id: str, content: bytes, entry_id: str) -> XdsDocumentEntry:
    return XdsDocumentEntry(
        entry_id=entry_id,
        unique_id=unique_id,
        patient_id=INS,
        source_patient_id=INS.replace("^NH", "^PI"),
        source_patient_info=(f"PID-3|{INS}",),
        title="Compte rendu",
        class_code=codes.CLASS_REPORT,
        type_code=codes.XdsCode("11488-4", "2.16.840.1.113883.6.1", "CR"),
        format_code=codes.FORMAT_N1_PDF,
        confidentiality=(codes.XdsCode("N", codes.HL7_CONFIDENTIALITY, "Normal"),),
        facility_type=codes.XdsCode("SA07", "1.2.250.1.71.4.2.4", "Cabinet"),
        practice_setting=codes.XdsCode("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire"),
        author=XdsAuthor("899700367909^MEDECIN^Anne^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"),
        legal_authenticator="899700367909^MEDECIN^Anne^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
        creation_time="20260301090000",
        service_start_time="20260301090000",
        service_stop_time="20260301093000",
        language_code="fr-FR",
        hash=hashlib.sha1(content).hexdigest(),  # noqa: S324
        size=len(content),
        content=content,
    )


def test_signed_request_is_valid_and_links_the_signature(signer: Issued) -> None:
    entries = [entry(uid, content, f"Document0{i}") for i, (uid, content) in enumerate(DOCS.items(), start=1)]
    signature = xades.sign_lot(DOCS, signer.key_pem, signer.cert_pem)
    sig_entry = xades.signature_entry(entries, signature, "2.25.42")
    submission = SubmissionInfo("2.25.1", "2.25.2", dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC))
    request = xades.signed_request(entries, submission, sig_entry)
    schema = xds_schema()
    assert schema.validate(request), schema.error_log
    eo = request.find(".//rim:ExtrinsicObject[@id='Signature01']", NS)

    def scheme(uuid: str) -> list[str]:
        return eo.xpath(f"rim:Classification[@classificationScheme='{uuid}']/@nodeRepresentation", namespaces=NS)

    assert scheme(codes.DE_CLASS_CODE) == [xades.SIGNATURE_CLASS.code]
    assert scheme(codes.DE_TYPE_CODE) == ["E1762"]
    assert scheme(codes.DE_FORMAT_CODE) == ["http://www.w3.org/2000/09/xmldsig#"]
    assert scheme(xades.DE_EVENT_CODE) == ["1.2.840.10065.1.12.1.14"]
    signs = request.find(f".//rim:Association[@associationType='{xades.SIGNS}']", NS)
    assert (signs.get("sourceObject"), signs.get("targetObject")) == ("Signature01", "SubmissionSet01")
    members = request.xpath(f"//rim:Association[@associationType='{codes.HAS_MEMBER}']/@targetObject", namespaces=NS)
    assert sorted(members) == ["Document01", "Document02", "Signature01"]
    assert request.xpath("xdsb:Document/@id", namespaces=NS) == ["Document01", "Document02", "Signature01"]
    assert sig_entry.hash == hashlib.sha1(signature).hexdigest()  # noqa: S324
