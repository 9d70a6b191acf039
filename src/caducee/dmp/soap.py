"""SOAP 1.2 envelopes of the DMP calls: WS-Addressing header, WS-Security VIHF, faults, defensive parsing.

Sources: SOAP 1.2 Part 1 §5 (envelope, §5.4 Fault with Code/Value, Subcode/Value, Reason/Text), WS-Addressing 1.0
SOAP binding (`Action` mustUnderstand, `MessageID`, `To`, `ReplyTo` anonymous, answers `RelatesTo`), WSS 1.0 SOAP
Message Security (secext namespace, `wsse:Security` carrying the SAML assertion), docs/dmp.md §Transport and
notes §1.1 (DRIMbox DMPConnect: same header set). Faults map to the errors of `caducee.dmp.api`: `Receiver` →
DmpUnavailable (worth retrying), anything else (`Sender`, `MustUnderstand`, `VersionMismatch`…) → DmpRejected, code =
local name of the first subcode (e.g. `InvalidSecurityToken`), or of the code when there is no subcode.

Both directions live here so the sandbox answers exactly what the client parses (`response_envelope`,
`fault_envelope`, `parse_envelope(raise_faults=False)`).
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
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
_S, _A, _W = f"{{{NS_SOAP}}}", f"{{{NS_WSA}}}", f"{{{NS_WSSE}}}"
NS = {"soap": NS_SOAP, "wsa": NS_WSA, "wsse": NS_WSSE, "saml2": NS_SAML}

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # an ITI-43 answer of a large N1 PDF; anything bigger is refused


@dataclass(frozen=True)
class SoapMessage:
    envelope: etree._Element
    body: etree._Element  # the first child of soap:Body
    action: str
    message_id: str
    relates_to: str
    to: str
    fault: SoapFault | None = None

    @property
    def assertion(self) -> etree._Element | None:
        """The VIHF `saml2:Assertion` of `wsse:Security`, if any."""
        return self.envelope.find("soap:Header/wsse:Security/saml2:Assertion", NS)


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


def _envelope(body: etree._Element | None) -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(_S + "Envelope", nsmap={"soap": NS_SOAP, "wsa": NS_WSA})
    header = etree.SubElement(envelope, _S + "Header")
    body_node = etree.SubElement(envelope, _S + "Body")
    if body is not None:
        body_node.append(body)
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


def response_envelope(body: etree._Element, *, action: str, relates_to: str) -> etree._Element:
    """An answer: `wsa:Action` `<Action>Response` (caller passes it whole) and `wsa:RelatesTo` (docs/dmp.md)."""
    envelope, header = _envelope(body)
    _header_element(header, _A + "Action", action).set(_S + "mustUnderstand", "true")
    _header_element(header, _A + "MessageID", new_message_id())
    _header_element(header, _A + "RelatesTo", relates_to)
    return envelope


def fault_envelope(
    code: str, reason: str, *, subcode: tuple[str, str] | None = None, relates_to: str = ""
) -> etree._Element:
    """soap:Fault with `code` (Sender / Receiver), optional (namespace, local name) subcode, French reason."""
    envelope, header = _envelope(None)
    _header_element(header, _A + "Action", "http://www.w3.org/2005/08/addressing/soap/fault")
    if relates_to:
        _header_element(header, _A + "RelatesTo", relates_to)
    fault = etree.SubElement(envelope.find(_S + "Body"), _S + "Fault")  # type: ignore[arg-type]
    code_node = etree.SubElement(fault, _S + "Code")
    etree.SubElement(code_node, _S + "Value").text = f"soap:{code}"
    if subcode:
        namespace, local = subcode
        sub = etree.SubElement(code_node, _S + "Subcode")
        value = etree.SubElement(sub, _S + "Value", nsmap={"sub": namespace})
        value.text = f"sub:{local}"
    reason_node = etree.SubElement(fault, _S + "Reason")
    text = etree.SubElement(reason_node, _S + "Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    text.text = reason
    return envelope


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


def parse_envelope(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, raise_faults: bool = True) -> SoapMessage:
    """Parse a SOAP 1.2 message from outside: size-bounded, no DTD/entities (parse_untrusted), namespace checked.

    A fault raises its DmpError unless `raise_faults` is False (then `fault` is set and `body` is the Fault).
    """
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

    fault = _fault(children[0]) if children[0].tag == _S + "Fault" else None
    if fault is not None and raise_faults:
        raise_fault(fault)
    return SoapMessage(
        envelope=envelope,
        body=children[0],
        action=head("Action"),
        message_id=head("MessageID"),
        relates_to=head("RelatesTo"),
        to=head("To"),
        fault=fault,
    )


def check_answer(message: SoapMessage, *, action: str, message_id: str, response_actions: tuple[str, ...] = ()) -> None:
    """The answer is to our request: `RelatesTo` = our MessageID, and `Action` `<Action>Response` (docs/dmp.md) or one
    of `response_actions` (TD0.2: HL7 v3 names the answer by its interaction, `urn:hl7-org:v3:PRPA_IN201308UV02`)."""
    if message.relates_to and message.relates_to != message_id:
        raise DmpInvalidResponse("Réponse du DMP à une autre demande (wsa:RelatesTo).")
    if message.action and message.action not in (action + "Response", *response_actions):
        raise DmpInvalidResponse(f"Réponse du DMP inattendue (action « {message.action} »).")
