"""VIHF build and signature (src/caducee/dmp/vihf.py)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import InvalidDigest, InvalidSignature, XMLVerifier

from caducee.dmp import vihf

NS = {"saml2": vihf.NS_SAML, "ds": vihf.NS_DS, "hl7": vihf.NS_HL7}
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
INS = "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH"
Z_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def keypair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CABINET TEST"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "499700367909006"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Caducee test"),
        ]
    )
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _build(cert_pem: bytes, **overrides: object) -> etree._Element:
    params: dict[str, object] = {
        "issuer": vihf.issuer_from_cert(cert_pem),
        "subject_national_id": "899700367909",
        "subject_name": "Alain PAT-SIX",
        "auth_mode": "INDIRECTE",
        "structure_id": "499700367909006",
        "sector": "SA25",
        "role": "10",
        "specialty": "SM26",
        "patient_ins": INS,
        "software_name": "Caducée",
        "software_version": "0.1",
        "now": NOW,
        "validity_seconds": 300,
        "role_display": "Medecin",
    }
    params.update(overrides)
    return vihf.build_vihf(**params)  # type: ignore[arg-type]


def _attr_values(assertion: etree._Element, name: str) -> list[etree._Element]:
    return assertion.xpath(
        f"saml2:AttributeStatement/saml2:Attribute[@Name='{name}']/saml2:AttributeValue", namespaces=NS
    )


def _verify(xml: bytes, cert_pem: bytes) -> etree._Element:
    result = XMLVerifier().verify(xml, x509_cert=cert_pem.decode())
    return result.signed_xml


def test_required_attributes_and_utc_times(keypair: tuple[bytes, bytes]) -> None:
    assertion = _build(keypair[1])
    assert assertion.tag == f"{{{vihf.NS_SAML}}}Assertion"
    assert assertion.get("ID", "").startswith("_")
    assert assertion.get("Version") == "2.0"
    issuer = assertion.find("saml2:Issuer", NS)
    assert issuer is not None and issuer.get("Format") == vihf.ISSUER_FORMAT
    assert "CN=Caducee test" in (issuer.text or "")
    assert assertion.findtext("saml2:Subject/saml2:NameID", namespaces=NS) == "899700367909"
    times = [
        assertion.get("IssueInstant", ""),
        *assertion.xpath("saml2:Conditions/@NotBefore | saml2:Conditions/@NotOnOrAfter", namespaces=NS),
        *assertion.xpath("saml2:AuthnStatement/@AuthnInstant", namespaces=NS),
    ]
    assert len(times) == 4 and all(Z_TIME.match(str(t)) for t in times)
    assert assertion.get("IssueInstant") == "2026-03-02T08:30:00Z"
    assert assertion.xpath("string(saml2:Conditions/@NotOnOrAfter)", namespaces=NS) == "2026-03-02T08:35:00Z"
    expected = {
        "VIHF_Version": "4.0",
        "Secteur_Activite": "SA25^1.2.250.1.71.4.2.4",
        "Ressource_URN": "urn:dmp",
        "urn:oasis:names:tc:xspa:1.0:subject:subject-id": "Alain PAT-SIX",
        "Identifiant_Structure": "499700367909006",
        "LPS_Nom": "Caducée",
        "LPS_Version": "0.1",
        "urn:oasis:names:tc:xacml:2.0:resource:resource-id": INS,
        "Authentification_Mode": "INDIRECTE",
    }
    for name, value in expected.items():
        assert [v.text for v in _attr_values(assertion, name)] == [value], name
    (purpose,) = _attr_values(assertion, vihf.A_PURPOSE)
    assert purpose[0].get("code") == "normal" and purpose[0].get("codeSystem") == "1.2.250.1.213.1.1.4.248"
    roles = [(v[0].get("code"), v[0].get("codeSystem")) for v in _attr_values(assertion, vihf.A_ROLE)]
    assert roles == [("10", "1.2.250.1.71.1.2.7"), ("SM26", "1.2.250.1.71.4.2.5")]
    assert not _attr_values(assertion, vihf.A_CONFIDENTIALITY)
    assert assertion.find("saml2:Conditions/saml2:AudienceRestriction", NS) is None


def test_options(keypair: tuple[bytes, bytes]) -> None:
    assertion = _build(
        keypair[1], auth_mode="INDIRECTE_RENFORCEE", patient_ins=None, specialty=None, secret_connection=True
    )
    assert [v.text for v in _attr_values(assertion, vihf.A_AUTH_MODE)] == ["INDIRECTE_RENFORCEE"]
    assert not _attr_values(assertion, vihf.A_RESOURCE_ID)
    assert len(_attr_values(assertion, vihf.A_ROLE)) == 1
    assert len(_attr_values(assertion, vihf.A_CONFIDENTIALITY)) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"auth_mode": "AIR"},
        {"patient_ins": "162018885045327"},
        {"subject_national_id": " "},
        {"now": dt.datetime(2026, 3, 2, 9, 30)},  # naive
        {"validity_seconds": 0},
    ],
)
def test_rejects_bad_input(keypair: tuple[bytes, bytes], overrides: dict[str, object]) -> None:
    with pytest.raises(vihf.VihfError):
        _build(keypair[1], **overrides)


def test_signature_verifies(keypair: tuple[bytes, bytes]) -> None:
    key_pem, cert_pem = keypair
    assertion = _build(cert_pem)
    signed = vihf.sign_vihf(assertion, key_pem, cert_pem)
    assert assertion.find("ds:Signature", NS) is None  # input untouched
    children = [etree.QName(c).localname for c in signed]
    assert children[:3] == ["Issuer", "Signature", "Subject"]
    signature = signed.find("ds:Signature", NS)
    assert signature is not None
    info = signature.find("ds:SignedInfo", NS)
    assert info is not None
    exc_c14n = "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert info.xpath("string(ds:CanonicalizationMethod/@Algorithm)", namespaces=NS) == exc_c14n
    assert info.xpath("string(ds:SignatureMethod/@Algorithm)", namespaces=NS).endswith("rsa-sha256")
    assert info.xpath("string(ds:Reference/@URI)", namespaces=NS) == "#" + assertion.get("ID", "")
    assert info.xpath("string(ds:Reference/ds:DigestMethod/@Algorithm)", namespaces=NS).endswith("sha256")
    transforms = info.xpath("ds:Reference/ds:Transforms/ds:Transform/@Algorithm", namespaces=NS)
    assert "http://www.w3.org/2000/09/xmldsig#enveloped-signature" in transforms
    assert signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS) is not None
    verified = _verify(etree.tostring(signed), cert_pem)
    assert verified.get("ID") == assertion.get("ID")


def test_tampering_breaks_signature(keypair: tuple[bytes, bytes]) -> None:
    key_pem, cert_pem = keypair
    signed = vihf.sign_vihf(_build(cert_pem), key_pem, cert_pem)
    (mode,) = _attr_values(signed, vihf.A_AUTH_MODE)
    mode.text = "DIRECTE"
    with pytest.raises((InvalidDigest, InvalidSignature)):
        _verify(etree.tostring(signed), cert_pem)


def test_other_certificate_rejected(keypair: tuple[bytes, bytes]) -> None:
    key_pem, cert_pem = keypair
    signed = vihf.sign_vihf(_build(cert_pem), key_pem, cert_pem)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    other_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(other.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .sign(other, hashes.SHA256())
    )
    with pytest.raises(InvalidSignature):
        _verify(etree.tostring(signed), other_cert.public_bytes(serialization.Encoding.PEM))
