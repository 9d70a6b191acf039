"""A CDA's human-readable part as a safe structure for our templates (autoescaped), never raw HTML.

The CDA narrative block is a small XHTML-like language (paragraph, list/item, table, content, br…):
it is mapped to plain Python nodes; anything else becomes its text. No XSLT, no markup passed through.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from lxml import etree

from caducee.documents.validation import parse_untrusted

NS = "{urn:hl7-org:v3}"


@dataclass
class Node:
    kind: str  # text, paragraph, list, item, table, row, cell, header, br
    text: str = ""
    children: list[Node] = field(default_factory=list)


@dataclass
class RenderedSection:
    title: str
    body: list[Node]
    subsections: list[RenderedSection] = field(default_factory=list)


@dataclass
class RenderedDocument:
    title: str
    sections: list[RenderedSection]
    has_pdf_body: bool


_BLOCKS = {
    "paragraph": "paragraph",
    "list": "list",
    "item": "item",
    "table": "table",
    "tr": "row",
    "td": "cell",
    "th": "header",
    "br": "br",
    "caption": "paragraph",
}


def _nodes(element: etree._Element) -> list[Node]:
    nodes: list[Node] = []
    if element.text and element.text.strip():
        nodes.append(Node("text", element.text.strip()))
    for child in element:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        kind = _BLOCKS.get(local)
        if kind is None:  # content, sub, sup, thead, tbody…: keep the text and the structure below
            nodes.extend(_nodes(child))
        else:
            nodes.append(Node(kind, children=_nodes(child)))
        if child.tail and child.tail.strip():
            nodes.append(Node("text", child.tail.strip()))
    return nodes


def _section(section: etree._Element) -> RenderedSection:
    title = section.findtext(f"{NS}title") or ""
    text = section.find(f"{NS}text")
    subsections = [_section(s) for s in section.iterfind(f"{NS}component/{NS}section")]
    return RenderedSection(title=title.strip(), body=_nodes(text) if text is not None else [], subsections=subsections)


def render_cda(data: bytes) -> RenderedDocument:
    root = parse_untrusted(data).getroot()
    sections = [_section(s) for s in root.iterfind(f"{NS}component/{NS}structuredBody/{NS}component/{NS}section")]
    has_pdf = root.find(f"{NS}component/{NS}nonXMLBody") is not None
    return RenderedDocument(title=(root.findtext(f"{NS}title") or "").strip(), sections=sections, has_pdf_body=has_pdf)


def pdf_of_root(root: etree._Element) -> bytes | None:
    """The PDF an N1 document (CDA with a nonXMLBody) carries in base64, or None (not N1, or not decodable)."""
    text = root.find(f"{NS}component/{NS}nonXMLBody/{NS}text")
    if text is None:
        return None
    try:
        return base64.b64decode("".join(str(t) for t in text.itertext()), validate=False)
    except (binascii.Error, ValueError):
        return None


def embedded_pdf(data: bytes) -> bytes | None:
    """`pdf_of_root` of CDA bytes (parsed defensively: the document may come from the DMP or a message)."""
    return pdf_of_root(parse_untrusted(data).getroot())
