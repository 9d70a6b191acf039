"""MTOM/XOP: the multipart/related packaging of ITI-41 requests and ITI-43 answers.

Sources: W3C XOP 1.0 (§3 `xop:Include href="cid:…"`, §4.1 root part `application/xop+xml`), SOAP 1.2 MTOM
(`start-info`), RFC 2387 multipart/related (`type`, `start`), RFC 2046 §5.1.1 (boundary delimiters, CRLF),
RFC 2392 (`cid:` URLs = Content-ID without angle brackets, percent-encoded), docs/dmp.md §Transport (exact header
values), ITI TF-2b §3.41.4.1.3 (documents as XOP parts).

Hand-built on bytes (documents are binary; the email package would re-encode them). Decoding accepts a plain SOAP
answer (`application/soap+xml`) too, and refuses anything malformed with a French DmpInvalidResponse: missing or
unknown boundary, truncated body (no closing delimiter), part without headers, duplicate Content-ID, unsupported
transfer encoding, too many parts.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote, unquote

from lxml import etree

from caducee.dmp.api import DmpInvalidResponse

NS_XOP = "http://www.w3.org/2004/08/xop/include"
ROOT_CONTENT_ID = "root.message@caducee"
SOAP_CONTENT_TYPE = "application/soap+xml"
MAX_PARTS = 1000
_CRLF = b"\r\n"


@dataclass(frozen=True)
class Part:
    content_id: str  # without angle brackets
    data: bytes
    content_type: str = "application/octet-stream"


def soap_content_type(action: str) -> str:
    return f'{SOAP_CONTENT_TYPE}; charset=utf-8; action="{action}"'


def include(parent: etree._Element, content_id: str) -> None:
    """Replace `parent`'s text with `<xop:Include href="cid:…"/>` (RFC 2392 percent-encoding)."""
    parent.text = None
    for child in list(parent):
        parent.remove(child)
    node = etree.SubElement(parent, f"{{{NS_XOP}}}Include", nsmap={"xop": NS_XOP})
    node.set("href", "cid:" + quote(content_id, safe="@.-_~!$'()*+,;=:"))


def include_target(node: etree._Element) -> str | None:
    """The Content-ID referenced by `node`'s xop:Include child, or None when the content is inline."""
    found = node.find(f"{{{NS_XOP}}}Include")
    if found is None:
        return None
    href = found.get("href", "")
    if not href.startswith("cid:"):
        raise DmpInvalidResponse("Référence MTOM invalide (href sans « cid: »).")
    return unquote(href[4:])


def encode(root_xml: bytes, parts: Sequence[Part], *, action: str) -> tuple[bytes, str]:
    """(body, Content-Type header) of a multipart/related MTOM message: root SOAP part then one part per document."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    marker = boundary.encode()
    while any(marker in p.data for p in parts) or marker in root_xml:  # pragma: no cover - 128-bit collision
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
        marker = boundary.encode()
    if len({p.content_id for p in parts} | {ROOT_CONTENT_ID}) != len(parts) + 1:
        raise ValueError("Content-ID en double dans le message MTOM.")
    chunks = [
        b"--" + marker,
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"',
        b"Content-Transfer-Encoding: binary",
        f"Content-ID: <{ROOT_CONTENT_ID}>".encode(),
        b"",
        root_xml,
    ]
    for part in parts:
        if any(c in part.content_id for c in "<>\r\n") or any(c in part.content_type for c in "\r\n"):
            raise ValueError("Content-ID ou type MIME invalide.")
        chunks += [
            b"--" + marker,
            f"Content-Type: {part.content_type}".encode(),
            b"Content-Transfer-Encoding: binary",
            f"Content-ID: <{part.content_id}>".encode(),
            b"",
            part.data,
        ]
    chunks += [b"--" + marker + b"--", b""]
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; start="<{ROOT_CONTENT_ID}>"; '
        f'start-info="application/soap+xml"; action="{action}"'
    )
    return _CRLF.join(chunks), content_type


def _params(header: str) -> Message:
    message = Message()
    message["Content-Type"] = header
    return message


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.split(_CRLF):
        if not line.strip():
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise DmpInvalidResponse("Message MTOM du DMP malformé (en-tête de partie illisible).")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers


def _content_id(value: str) -> str:
    value = value.strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


def decode(content_type: str, body: bytes) -> tuple[bytes, dict[str, bytes]]:
    """(root SOAP XML, {Content-ID: bytes}) of an answer, multipart/related MTOM or plain SOAP 1.2."""
    header = _params(content_type or "")
    kind = header.get_content_type()
    if kind == SOAP_CONTENT_TYPE:
        return body, {}
    if kind != "multipart/related":
        raise DmpInvalidResponse(f"Réponse du DMP de type inattendu ({content_type or 'sans type'}).")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
        raise DmpInvalidResponse("Message MTOM du DMP sans délimiteur (boundary).")
    start_param = header.get_param("start")
    start = _content_id(start_param) if isinstance(start_param, str) else None
    delimiter = b"--" + boundary.encode("latin-1")
    segments = body.split(_CRLF + delimiter)
    first = segments[0]
    if first.startswith(delimiter):
        segments[0] = first[len(delimiter) :]
    else:  # preamble before the first delimiter (RFC 2046 §5.1.1)
        if not segments[1:]:
            raise DmpInvalidResponse("Message MTOM du DMP malformé (délimiteur absent).")
        segments = segments[1:]
    if not segments[-1].startswith(b"--"):
        raise DmpInvalidResponse("Message MTOM du DMP tronqué (délimiteur de fin absent).")
    segments = segments[:-1]
    if not segments or len(segments) > MAX_PARTS:
        raise DmpInvalidResponse("Message MTOM du DMP sans partie ou avec trop de parties.")
    parts: dict[str, bytes] = {}
    root: bytes | None = None
    for index, segment in enumerate(segments):
        segment = segment.split(_CRLF, 1)[1] if _CRLF in segment else b""  # rest of the delimiter line
        raw_headers, sep, data = segment.partition(_CRLF + _CRLF)
        if not sep:
            if not segment.startswith(_CRLF):
                raise DmpInvalidResponse("Message MTOM du DMP malformé (partie sans en-têtes).")
            raw_headers, data = b"", segment[2:]
        headers = _headers(raw_headers)
        encoding = headers.get("content-transfer-encoding", "binary").lower()
        if encoding == "base64":
            try:
                data = base64.b64decode(data, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise DmpInvalidResponse("Message MTOM du DMP : partie base64 illisible.") from exc
        elif encoding not in ("binary", "8bit", "7bit"):
            raise DmpInvalidResponse(f"Message MTOM du DMP : encodage {encoding} non pris en charge.")
        content_id = _content_id(headers.get("content-id", ""))
        is_root = content_id == start if start else index == 0
        if is_root:
            root = data
            continue
        if not content_id or content_id in parts:
            raise DmpInvalidResponse("Message MTOM du DMP : partie sans Content-ID ou Content-ID en double.")
        parts[content_id] = data
    if root is None:
        raise DmpInvalidResponse("Message MTOM du DMP sans partie SOAP racine.")
    return root, parts
