"""The one hardened XML parser (issue 12 §3): every XML that comes from outside — a CDA received by MSSanté or read
from the DMP, a SOAP answer of INSi or of the DMP, XDS metadata of an XDM archive — is read through `parse_untrusted`.

Size-bounded, no DTD, no entity, no network (XXE, billion laughs, SSRF); a DOCTYPE is refused before parsing when it
is in the prolog and again from the parsed document's info; comments and processing instructions may be dropped.
Local files of the ANS kit (XSD, schematrons), which the practice installs itself, use `local_parser()`.
"""

from __future__ import annotations

from typing import Any, cast

from lxml import etree

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

# A DOCTYPE can only come before the root element, and documents and messages have a short prolog (XML declaration,
# at most a stylesheet PI and a comment). Looked for in ASCII-compatible encodings and in UTF-16.
_DOCTYPE_SCAN = 64 * 1024
_DOCTYPE_MARKERS = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))


class UnsafeXml(ValueError):
    """An input we do not agree to read (not XML, DTD, entities, too large, empty); the message is French."""


def parse_untrusted(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    huge_text: bool = True,
    strip_comments: bool = False,
    dtd_refused: str = "déclaration DTD (DOCTYPE) refusée.",
) -> etree._ElementTree:
    """Parse XML from outside. `huge_text`: an N1 CDA carries its PDF as one base64 text node, and libxml2 refuses
    text nodes over 10 MB without `huge_tree`; the size bound and libxml2's entity amplification limit still hold.
    Messages that never carry such a node (SOAP answers) pass False."""
    if len(data) > max_bytes:
        raise UnsafeXml(f"document trop volumineux ({len(data)} octets, maximum {max_bytes}).")
    if not data.strip():
        raise UnsafeXml("document vide.")
    if any(marker in data[:_DOCTYPE_SCAN] for marker in _DOCTYPE_MARKERS):
        raise UnsafeXml(dtd_refused)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge_text,
        remove_comments=strip_comments,
        remove_pis=strip_comments,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"XML illisible : {exc.msg}.") from exc  # libxml2's message gives line and column
    tree = root.getroottree()
    docinfo = cast(Any, tree.docinfo)  # lxml-stubs lack doctype/internalDTD/externalDTD
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml(dtd_refused)
    for node in root.iter():
        if isinstance(node, etree._Entity):  # an entity reference left unresolved
            raise UnsafeXml("référence d'entité XML refusée.")
    return tree


def local_parser(*, huge_text: bool = False) -> etree.XMLParser:
    """For local files the practice installed (the ANS kit's XSD and schematrons) and for our own output: no
    network, no entity expansion."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=huge_text)
