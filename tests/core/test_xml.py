"""The one hardened XML parser (core/xml.py, issue 12 §3): what comes from outside is refused with a French reason
when it could attack the reader (XXE, billion laughs, SSRF through a DTD) or is too large, empty or not XML."""

from __future__ import annotations

import pytest

from caducee.core.xml import UnsafeXml, parse_untrusted

XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
LAUGHS = b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>'


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (XXE, "DTD"),
        (LAUGHS, "DTD"),
        ('<!DOCTYPE r SYSTEM "http://x/r.dtd"><r/>'.encode("utf-16"), "DTD"),
        (b"", "vide"),
        (b"   \n", "vide"),
        (b"<r><unclosed></r>", "XML illisible"),
        (b"not xml at all", "XML illisible"),
    ],
)
def test_hostile_or_broken_input_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UnsafeXml, match=reason):
        parse_untrusted(data)


def test_size_bound() -> None:
    with pytest.raises(UnsafeXml, match="trop volumineux"):
        parse_untrusted(b"<r>" + b"x" * 2000 + b"</r>", max_bytes=1000)


def test_comments_kept_or_stripped_on_demand() -> None:
    data = b"<r><!-- c --><?pi x?><a>1</a></r>"
    assert len(parse_untrusted(data).getroot()) == 3
    stripped = parse_untrusted(data, strip_comments=True).getroot()
    assert [child.tag for child in stripped] == ["a"]


def test_a_large_base64_text_node_is_read_when_allowed() -> None:
    """An N1 CDA carries its PDF as one text node over libxml2's 10 MB default."""
    data = b"<r>" + b"QUJD" * (3 * 1024 * 1024) + b"</r>"
    assert len(parse_untrusted(data).getroot().text or "") == 12 * 1024 * 1024
    with pytest.raises(UnsafeXml):
        parse_untrusted(data, huge_text=False)
