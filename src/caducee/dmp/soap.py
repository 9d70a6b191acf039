"""SOAP 1.2 envelopes of the DMP calls (the client's side): WS-Addressing header, WS-Security VIHF, defensive parsing
of the answers and their faults.

Sources: SOAP 1.2 Part 1 §5 (envelope, §5.4 Fault with Code/Value, Subcode/Value, Reason/Text), WS-Addressing 1.0
SOAP binding (`Action` mustUnderstand, `MessageID`, `To`, `ReplyTo` anonymous, answers `RelatesTo`), WSS 1.0 SOAP
Message Security (secext namespace, `wsse:Security` carrying the SAML assertion), docs/dmp.md §Transport and
notes §1.1 (DRIMbox DMPConnect: same header set). Faults map to the errors of `caducee.dmp.api`: `Receiver` →
DmpUnavailable (worth retrying), anything else (`Sender`, `MustUnderstand`, `VersionMismatch`…) → DmpRejected, code =
local name of the first subcode (e.g. `InvalidSecurityToken`), or of the code when there is no subcode.

The answers are the DMP's: nothing here builds them (the sandbox writes its own, `caducee.sandbox.dmp.wire`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from caducee.dmp.api import DmpInvalidResponse, DmpRejected, DmpUnavailable
from caducee.documents.validation import UnsafeXml, parse_untrusted

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
_S, _A, _W = f"{{{NS_SOAP}}}", f"{{{NS_WSA}}}", f"{{{NS_WSSE}}}"
NS = {"soap": NS_SOAP, "wsa": NS_WSA, "wsse": NS_WSSE}

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # an ITI-43 answer of a large N1 PDF; anything bigger is refused


@dataclass(frozen=True)
class SoapMessage:
    """An answer of the DMP (never a fault: `parse_envelope` raises those)."""

    envelope: etree._Element
    body: etree._Element  # the first child of soap:Body
    action: str
    message_id: str
    relates_to: str


@dataclass(frozen=True)
class SoapFault:
    code: str  # local name of soap:Code/Value: Sender, Receiver, MustUnderstand…
    subcode: str  # local name of the first Subcode/Value, "" if none
    reason: str


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _header_element(header: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
    node = etree.SubElement(header, tag, attrs)
    node.text = text
    return node


def _envelope(body: etree._Element) -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(_S + "Envelope", nsmap={"soap": NS_SOAP, "wsa": NS_WSA})
    header = etree.SubElement(envelope, _S + "Header")
    etree.SubElement(envelope, _S + "Body").append(body)
    return envelope, header


def request_envelope(
    body: etree._Element,
    *,
    action: str,
    to: str,
    assertion: etree._Element | None,
    message_id: str | None = None,
) -> tuple[etree._Element, str]:
    """(envelope, MessageID): WS-Addressing header (Action mustUnderstand), VIHF in wsse:Security, `body`."""
    message_id = message_id or new_message_id()
    envelope, header = _envelope(body)
    _header_element(header, _A + "Action", action).set(_S + "mustUnderstand", "true")
    _header_element(header, _A + "MessageID", message_id)
    _header_element(header, _A + "To", to)
    reply_to = etree.SubElement(header, _A + "ReplyTo")
    _header_element(reply_to, _A + "Address", WSA_ANONYMOUS)
    if assertion is not None:
        security = etree.SubElement(header, _W + "Security", nsmap={"wsse": NS_WSSE})
        security.set(_S + "mustUnderstand", "true")
        security.append(assertion)
    return envelope, message_id


def serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _local(node: etree._Element | None, value: str | None) -> str:
    """Local name of a QName value (`soap:Sender` → Sender); checked against its namespace when it is bound."""
    text = (value or "").strip()
    if ":" not in text:
        return text
    prefix, local = text.split(":", 1)
    del node, prefix  # the local name is what the errors carry; the namespace of a subcode varies by emitter
    return local


def _fault(fault: etree._Element) -> SoapFault:
    code_value = fault.find("soap:Code/soap:Value", NS)
    subcode_value = fault.find("soap:Code/soap:Subcode/soap:Value", NS)
    reason = fault.findtext("soap:Reason/soap:Text", default="", namespaces=NS) or ""
    return SoapFault(
        code=_local(code_value, code_value.text if code_value is not None else ""),
        subcode=_local(subcode_value, subcode_value.text if subcode_value is not None else ""),
        reason=reason.strip(),
    )


def raise_fault(fault: SoapFault) -> None:
    """The DmpError of a SOAP fault (French message, the DMP's reason quoted)."""
    code = fault.subcode or fault.code
    reason = f" : {fault.reason}" if fault.reason else ""
    if fault.code == "Receiver":
        raise DmpUnavailable(f"Le DMP est momentanément indisponible{reason}", code=code)
    if fault.subcode in ("InvalidSecurityToken", "FailedAuthentication", "InvalidSecurity"):
        raise DmpRejected(f"Le DMP a refusé le jeton d'authentification (VIHF){reason}", code=code)
    raise DmpRejected(f"Le DMP a refusé la demande{reason}", code=code)


def parse_envelope(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> SoapMessage:
    """Parse a SOAP 1.2 answer: size-bounded, no DTD/entities (parse_untrusted), namespace checked; a fault raises its
    DmpError (`raise_fault`)."""
    try:
        envelope = parse_untrusted(data, max_bytes=max_bytes).getroot()
    except UnsafeXml as exc:
        raise DmpInvalidResponse(f"Réponse du DMP illisible : {exc}") from exc
    if envelope.tag != _S + "Envelope":
        raise DmpInvalidResponse("Réponse du DMP inattendue : enveloppe SOAP 1.2 attendue.")
    body_node = envelope.find("soap:Body", NS)
    children = [c for c in body_node if isinstance(c.tag, str)] if body_node is not None else []
    if not children:
        raise DmpInvalidResponse("Réponse du DMP sans contenu (soap:Body vide).")
    header = envelope.find("soap:Header", NS)

    def head(tag: str) -> str:
        return ((header.findtext(f"wsa:{tag}", default="", namespaces=NS) or "") if header is not None else "").strip()

    if children[0].tag == _S + "Fault":
        raise_fault(_fault(children[0]))
    return SoapMessage(
        envelope=envelope,
        body=children[0],
        action=head("Action"),
        message_id=head("MessageID"),
        relates_to=head("RelatesTo"),
    )


def check_answer(message: SoapMessage, *, action: str, message_id: str, response_actions: tuple[str, ...] = ()) -> None:
    """The answer is to our request: `RelatesTo` = our MessageID, and `Action` `<Action>Response` (docs/dmp.md) or one
    of `response_actions` (TD0.2: HL7 v3 names the answer by its interaction, `urn:hl7-org:v3:PRPA_IN201308UV02`)."""
    if message.relates_to and message.relates_to != message_id:
        raise DmpInvalidResponse("Réponse du DMP à une autre demande (wsa:RelatesTo).")
    if message.action and message.action not in (action + "Response", *response_actions):
        raise DmpInvalidResponse(f"Réponse du DMP inattendue (action « {message.action} »).")
