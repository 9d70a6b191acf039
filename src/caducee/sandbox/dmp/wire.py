"""The sandbox's SOAP 1.2 answers, WS-Addressing headers and MTOM/XOP multipart (reading requests, writing answers).

Sources: SOAP 1.2 part 1 §5.4 (faults), WS-Addressing 1.0 SOAP binding, XOP/MTOM (W3C 2005), RFC 2387
(multipart/related), docs/dmp.md §Transport (content types, Content-IDs, `cid:` references).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from lxml import etree

from caducee.core.oids import NS_SOAP12, NS_WSA
from caducee.sandbox.dmp.checks import NS_WSSE

_P = f"{{{NS_SOAP12}}}"
_A = f"{{{NS_WSA}}}"


class MultipartError(ValueError):
    """The multipart/related body cannot be read."""


def content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    """(media type, parameters) of a Content-Type header; quoted values unquoted, names lower-cased."""
    media, _, rest = content_type.partition(";")
    params: dict[str, str] = {}
    for match in re.finditer(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        value = match.group(2).strip()
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        params[match.group(1).lower()] = value
    return media.strip().lower(), params


@dataclass
class Part:
    headers: dict[str, str]
    body: bytes

    @property
    def content_id(self) -> str:
        return self.headers.get("content-id", "").strip().strip("<>")


def parse_multipart(body: bytes, content_type: str) -> tuple[Part, dict[str, bytes]]:
    """(root part, Content-ID → bytes of the other parts) of a multipart/related message (MTOM)."""
    _, params = content_type_params(content_type)
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultipartError("multipart/related sans paramètre boundary.")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    pieces = (b"\r\n" + body).split(delimiter)
    parts: list[Part] = []
    closed = False
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            closed = True
            break
        header_end = piece.find(b"\r\n\r\n")
        if header_end < 0:
            raise MultipartError("partie MIME sans en-têtes.")
        headers: dict[str, str] = {}
        for line in piece[:header_end].split(b"\r\n"):
            if b":" in line:
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
        parts.append(Part(headers, piece[header_end + 4 :]))
    if not closed or not parts:
        raise MultipartError("message multipart/related incomplet (délimiteur final absent).")
    start = params.get("start", "").strip("<>")
    root = next((p for p in parts if p.content_id == start), None) if start else parts[0]
    if root is None:
        raise MultipartError("partie racine (start) introuvable.")
    others = {p.content_id: p.body for p in parts if p is not root}
    return root, others


def build_multipart(
    root_xml: bytes, attachments: list[tuple[str, str, bytes]], *, action: str, start: str = "root.message@caducee"
) -> tuple[bytes, str]:
    """(body, Content-Type) of an MTOM message; attachments = (Content-ID, mime type, bytes)."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    chunks = [
        f'--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        f"Content-Transfer-Encoding: binary\r\nContent-ID: <{start}>\r\n\r\n".encode(),
        root_xml,
    ]
    for content_id, mime, data in attachments:
        chunks.append(
            f"\r\n--{boundary}\r\nContent-Type: {mime}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{content_id}>\r\n\r\n".encode()
        )
        chunks.append(data)
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<{start}>"; '
        f'start-info="application/soap+xml"; action="{action}"'
    )
    return b"".join(chunks), content_type


def envelope(body: etree._Element, *, action: str, relates_to: str) -> etree._Element:
    """A SOAP 1.2 answer: WS-Addressing Action (mustUnderstand), a MessageID of its own, RelatesTo the request."""
    env = etree.Element(_P + "Envelope", nsmap={"soap": NS_SOAP12, "wsa": NS_WSA})
    header = etree.SubElement(env, _P + "Header")
    action_node = etree.SubElement(header, _A + "Action")
    action_node.set(_P + "mustUnderstand", "true")
    action_node.text = action
    etree.SubElement(header, _A + "MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    etree.SubElement(header, _A + "RelatesTo").text = relates_to
    etree.SubElement(env, _P + "Body").append(body)
    return env


def fault(code: str, subcode: str, reason: str, *, relates_to: str = "", action: str = "") -> bytes:
    """A SOAP 1.2 fault; `subcode` a QName with prefix wsse: or dmp: (or empty), `reason` in French."""
    nsmap = {"soap": NS_SOAP12, "wsa": NS_WSA, "wsse": NS_WSSE, "dmp": "urn:caducee:sandbox:dmp"}
    env = etree.Element(_P + "Envelope", nsmap=nsmap)  # type: ignore[arg-type]
    header = etree.SubElement(env, _P + "Header")
    etree.SubElement(header, _A + "Action").text = "http://www.w3.org/2005/08/addressing/soap/fault"
    if relates_to:
        etree.SubElement(header, _A + "RelatesTo").text = relates_to
    node = etree.SubElement(etree.SubElement(env, _P + "Body"), _P + "Fault")
    code_node = etree.SubElement(node, _P + "Code")
    etree.SubElement(code_node, _P + "Value").text = f"soap:{code}"
    if subcode:
        etree.SubElement(etree.SubElement(code_node, _P + "Subcode"), _P + "Value").text = subcode
    text = etree.SubElement(etree.SubElement(node, _P + "Reason"), _P + "Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    text.text = reason
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")
