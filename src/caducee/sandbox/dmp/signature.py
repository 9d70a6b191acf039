"""The lot signature check, as the DMP makes it on ITI-41: an XAdES signature (IHE DSG) over an IHE manifest.

Sources: IHE ITI TF Suppl. Document Digital Signature (DSG): a `ds:Signature` whose SignedInfo references a
`ds:Manifest Id="IHEManifest"` holding one Reference per document, URI `urn:oid:<uniqueId>`, digest of the document's
bytes; ETSI EN 319 132-1 (XAdES baseline B: SignedProperties signed, SigningCertificate = digest of the signing
certificate); notes §1.3 "Lot signature"; docs/dmp.md §"XDS transactions" (what Caducée's client sends). Written for
the sandbox from those sources, with signxml for the XML-DSig core and `cryptography` for the certificate: it shares
no code with the client that signs (`caducee.dmp.xades`).

Sandbox choices (the DMP's exact checks are not public): the signing certificate must be issued by the sandbox CA and
valid now; manifest digests in SHA-256 (what docs/dmp.md announces; the DRIMbox sends SHA-1: a sandbox accepting it
would hide nothing from Caducée, which does not send it); a `root^extension` uniqueId is compared after
percent-decoding the URI, which must be a URI (RFC 3986: a `^` is percent-encoded).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature as InvalidCertificateSignature
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from caducee.sandbox.tls import parse_untrusted_request

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XADES = "http://uri.etsi.org/01903/v1.3.2#"
_D, _X = f"{{{NS_DS}}}", f"{{{NS_XADES}}}"
MANIFEST_ID = "IHEManifest"  # DSG
MAX_SIGNATURE_BYTES = 1024 * 1024
_URI = re.compile(r"^urn:oid:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")  # RFC 3986 characters only (`^` encoded)
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"  # the only digest accepted (module docstring)


class LotSignatureRefused(ValueError):
    """The lot's signature is missing, malformed, or does not match the documents (French message)."""


def _refused(message: str) -> LotSignatureRefused:
    return LotSignatureRefused(message)


def _digest(algorithm: str, data: bytes) -> str | None:
    """Base64 digest of `data` by the XML-DSig `algorithm`, None when the algorithm is not accepted."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii") if algorithm == SHA256 else None


def _certificate(signature: etree._Element, ca_pem: bytes, now: dt.datetime) -> x509.Certificate:
    """The KeyInfo certificate, valid now and issued by one of the CAs of `ca_pem`."""
    encoded = signature.findtext(f"{_D}KeyInfo/{_D}X509Data/{_D}X509Certificate") or ""
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(encoded, validate=False))
        authorities = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise _refused("certificat de signature illisible (KeyInfo/X509Data).") from exc
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise _refused("certificat de signature hors de sa période de validité.")
    for authority in authorities:
        try:
            certificate.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidCertificateSignature):
            continue
        return certificate
    raise _refused("certificat de signature non émis par une autorité reconnue.")


def _check_signing_certificate(properties: etree._Element, certificate: x509.Certificate) -> None:
    """XAdES SigningCertificate: the digest of the certificate that signed (ETSI EN 319 132-1 §5.2.2)."""
    digest = properties.find(f"{_X}SignedSignatureProperties/{_X}SigningCertificate/{_X}Cert/{_X}CertDigest")
    if digest is None:
        raise _refused("propriété XAdES SigningCertificate absente.")
    method = digest.find(f"{_D}DigestMethod")
    der = certificate.public_bytes(serialization.Encoding.DER)
    expected = _digest(method.get("Algorithm", "") if method is not None else "", der)
    if expected is None or (digest.findtext(f"{_D}DigestValue") or "").strip() != expected:
        raise _refused("propriété XAdES SigningCertificate : empreinte du certificat fausse.")


def verify_lot_signature(
    signature_xml: bytes, documents: Mapping[str, bytes], ca_pem: bytes, *, now: dt.datetime | None = None
) -> x509.Certificate:
    """Check the signature document of a lot against `documents` {uniqueId: bytes}, which must be exactly the
    documents signed; returns the signing certificate, raises LotSignatureRefused."""
    if len(signature_xml) > MAX_SIGNATURE_BYTES:
        raise _refused("signature du lot trop volumineuse.")
    root = parse_untrusted_request(signature_xml, _refused)
    if root.tag != _D + "Signature":
        raise _refused("ds:Signature attendu.")
    certificate = _certificate(root, ca_pem, now or dt.datetime.now(dt.UTC))
    wrapper = etree.Element("lot")  # signxml looks for the Signature below the element it is given
    wrapper.append(root)
    try:
        results = XMLVerifier().verify(
            wrapper, x509_cert=certificate, expect_config=SignatureConfiguration(location="./", expect_references=2)
        )
    except (InvalidSignature, InvalidInput, ValueError) as exc:
        raise _refused(f"signature invalide : {exc}") from exc
    signed = [r.signed_xml for r in results if r.signed_xml is not None]  # type: ignore[union-attr]
    manifests = [n for n in signed if n.tag == _D + "Manifest" and n.get("Id") == MANIFEST_ID]
    properties = [n for n in signed if n.tag == _X + "SignedProperties"]
    if len(manifests) != 1:
        raise _refused("manifeste IHE (ds:Manifest IHEManifest) absent ou non signé.")
    if len(properties) != 1:
        raise _refused("propriétés XAdES (SignedProperties) absentes ou non signées.")
    _check_signing_certificate(properties[0], certificate)

    remaining = dict(documents)
    for reference in manifests[0].findall(_D + "Reference"):
        uri = reference.get("URI", "")
        unique_id = unquote(uri[len("urn:oid:") :]) if _URI.match(uri) else ""
        if unique_id not in remaining:
            raise _refused(f"référence inattendue ou répétée dans le manifeste : « {uri} ».")
        method = reference.find(_D + "DigestMethod")
        expected = _digest(method.get("Algorithm", "") if method is not None else "", remaining.pop(unique_id))
        if expected is None:
            raise _refused("algorithme d'empreinte du manifeste non accepté (SHA-256 attendu).")
        if (reference.findtext(_D + "DigestValue") or "").strip() != expected:
            raise _refused(f"empreinte fausse pour « {uri} ».")
    if remaining:
        raise _refused("des documents du lot ne sont pas signés.")
    return certificate
