"""SOAP 1.2 envelopes (src/caducee/dmp/soap.py): header, VIHF, faults → errors, hostile answers (the answers and
faults as the DMP sandbox writes them, tests/dmp/dmp_answers.py)."""

from __future__ import annotations

import pytest
from lxml import etree

from caducee.dmp import hl7v3, soap
from caducee.dmp.api import DmpInvalidResponse, DmpRejected, DmpUnavailable
from tests.dmp.dmp_answers import envelope, fault

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"

NS = soap.NS
ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"


def body() -> etree._Element:
    return hl7v3.td03_request("AJOUT")


def assertion() -> etree._Element:
    node = etree.Element(f"{{{NS_SAML}}}Assertion", nsmap={"saml2": NS_SAML}, ID="_a1")
    etree.SubElement(node, f"{{{NS_SAML}}}Issuer").text = "CN=test"
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
    security = header.find("wsse:Security", NS)
    assert security.get(f"{{{soap.NS_SOAP}}}mustUnderstand") == "true"
    assert [a.get("ID") for a in security.iterfind(f"{{{NS_SAML}}}Assertion")] == ["_a1"]
    message = soap.parse_envelope(soap.serialize(envelope))
    assert message.body.tag == "{urn:si-dmp-habilitations}setAuthorization"
    assert (message.action, message.message_id) == (ACTION, message_id)


def test_answer_must_relate_to_the_request() -> None:
    answer = soap.parse_envelope(envelope(body(), action=ACTION + "Response", relates_to="urn:uuid:1"))
    soap.check_answer(answer, action=ACTION, message_id="urn:uuid:1")
    with pytest.raises(DmpInvalidResponse, match="autre demande"):
        soap.check_answer(answer, action=ACTION, message_id="urn:uuid:2")
    with pytest.raises(DmpInvalidResponse, match="action"):
        soap.check_answer(answer, action="urn:autre", message_id="urn:uuid:1")


@pytest.mark.parametrize(
    ("code", "subcode", "error", "expected_code", "words"),
    [
        ("Receiver", "", DmpUnavailable, "Receiver", "indisponible"),
        ("Sender", "wsse:InvalidSecurityToken", DmpRejected, "InvalidSecurityToken", "VIHF"),
        ("Sender", "wsse:FailedAuthentication", DmpRejected, "FailedAuthentication", "VIHF"),
        ("Sender", "dmp:DMP_FERME", DmpRejected, "DMP_FERME", "refusé"),
        ("MustUnderstand", "", DmpRejected, "MustUnderstand", "refusé"),
    ],
)
def test_faults_map_to_errors(code, subcode, error, expected_code, words) -> None:  # type: ignore[no-untyped-def]
    data = fault(code, "Motif du DMP", subcode)
    with pytest.raises(error, match=words) as caught:
        soap.parse_envelope(data)
    assert caught.value.code == expected_code
    assert "Motif du DMP" in str(caught.value)


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
    data = envelope(body(), action=ACTION, relates_to="x")
    with pytest.raises(DmpInvalidResponse, match="volumineux"):
        soap.parse_envelope(data, max_bytes=len(data) - 1)
