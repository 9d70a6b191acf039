"""SOAP 1.2 envelopes (src/caducee/dmp/soap.py): header, VIHF, faults → errors, hostile answers."""

from __future__ import annotations

import pytest
from lxml import etree

from caducee.dmp import hl7v3, soap
from caducee.dmp.api import DmpInvalidResponse, DmpRejected, DmpUnavailable

NS = soap.NS
ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"


def body() -> etree._Element:
    return hl7v3.td03_request("AJOUT")


def assertion() -> etree._Element:
    node = etree.Element(f"{{{soap.NS_SAML}}}Assertion", nsmap={"saml2": soap.NS_SAML}, ID="_a1")
    etree.SubElement(node, f"{{{soap.NS_SAML}}}Issuer").text = "CN=test"
    return node


def test_request_header_per_docs() -> None:
    envelope, message_id = soap.request_envelope(
        body(), action=ACTION, to="https://dmp/registry", assertion=assertion()
    )
    assert message_id.startswith("urn:uuid:")
    header = envelope.find("soap:Header", NS)
    action = header.find("wsa:Action", NS)
    assert action.text == ACTION and action.get(f"{{{soap.NS_SOAP}}}mustUnderstand") == "true"
    assert header.findtext("wsa:MessageID", namespaces=NS) == message_id
    assert header.findtext("wsa:To", namespaces=NS) == "https://dmp/registry"
    assert header.findtext("wsa:ReplyTo/wsa:Address", namespaces=NS) == soap.WSA_ANONYMOUS
    message = soap.parse_envelope(soap.serialize(envelope))
    assert message.assertion is not None and message.assertion.get("ID") == "_a1"
    assert message.body.tag == "{urn:si-dmp-habilitations}setAuthorization"
    assert (message.action, message.message_id, message.to) == (ACTION, message_id, "https://dmp/registry")


def test_answer_must_relate_to_the_request() -> None:
    answer = soap.parse_envelope(
        soap.serialize(soap.response_envelope(body(), action=ACTION + "Response", relates_to="urn:uuid:1"))
    )
    soap.check_answer(answer, action=ACTION, message_id="urn:uuid:1")
    with pytest.raises(DmpInvalidResponse, match="autre demande"):
        soap.check_answer(answer, action=ACTION, message_id="urn:uuid:2")
    with pytest.raises(DmpInvalidResponse, match="action"):
        soap.check_answer(answer, action="urn:autre", message_id="urn:uuid:1")


@pytest.mark.parametrize(
    ("code", "subcode", "error", "expected_code", "words"),
    [
        ("Receiver", None, DmpUnavailable, "Receiver", "indisponible"),
        ("Sender", (soap.NS_WSSE, "InvalidSecurityToken"), DmpRejected, "InvalidSecurityToken", "VIHF"),
        ("Sender", (soap.NS_WSSE, "FailedAuthentication"), DmpRejected, "FailedAuthentication", "VIHF"),
        ("Sender", ("urn:dmp", "DMP_FERME"), DmpRejected, "DMP_FERME", "refusé"),
        ("MustUnderstand", None, DmpRejected, "MustUnderstand", "refusé"),
    ],
)
def test_faults_map_to_errors(code, subcode, error, expected_code, words) -> None:  # type: ignore[no-untyped-def]
    data = soap.serialize(soap.fault_envelope(code, "Motif du DMP", subcode=subcode))
    with pytest.raises(error, match=words) as caught:
        soap.parse_envelope(data)
    assert caught.value.code == expected_code
    assert "Motif du DMP" in str(caught.value)
    fault = soap.parse_envelope(data, raise_faults=False).fault
    assert fault is not None and fault.code == code


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><a>&x;</a></soap:Body></soap:Envelope>"""


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (XXE, "illisible"),
        (b"pas du XML", "illisible"),
        (b"", "illisible"),
        (b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><a/></Body></Envelope>', "SOAP 1.2"),
        (b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body/></soap:Envelope>', "vide"),
        (b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><a>', "illisible"),
    ],
)
def test_hostile_or_garbage_answers(data: bytes, words: str) -> None:
    with pytest.raises(DmpInvalidResponse, match=words):
        soap.parse_envelope(data)


def test_oversize_answer() -> None:
    data = soap.serialize(soap.response_envelope(body(), action=ACTION, relates_to="x"))
    with pytest.raises(DmpInvalidResponse, match="volumineux"):
        soap.parse_envelope(data, max_bytes=len(data) - 1)
