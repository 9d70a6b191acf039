"""MTOM/XOP packaging (src/caducee/dmp/mtom.py): encode ↔ decode, plain SOAP, malformed multiparts."""

from __future__ import annotations

import pytest
from lxml import etree

from caducee.dmp import mtom
from caducee.dmp.api import DmpInvalidResponse

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ROOT = b'<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"/>'
BINARY = bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n\r\n"


def test_round_trip_with_binary_parts() -> None:
    parts = [
        mtom.Part("Document01@caducee", BINARY, "text/xml"),
        mtom.Part("Signature01@caducee", b"<sig/>", "text/xml"),
    ]
    body, content_type = mtom.encode(ROOT, parts, action=ACTION)
    assert content_type.startswith('multipart/related; type="application/xop+xml"')
    assert f'start="<{mtom.ROOT_CONTENT_ID}>"' in content_type and 'start-info="application/soap+xml"' in content_type
    assert f'action="{ACTION}"' in content_type
    assert b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"' in body
    assert b"Content-ID: <Document01@caducee>" in body and b"Content-Transfer-Encoding: binary" in body
    root, decoded = mtom.decode(content_type, body)
    assert root == ROOT
    assert decoded == {"Document01@caducee": BINARY, "Signature01@caducee": b"<sig/>"}


def test_plain_soap_is_accepted() -> None:
    assert mtom.decode(mtom.soap_content_type(ACTION), ROOT) == (ROOT, {})


def test_include_and_target() -> None:
    node = etree.Element("Document")
    node.text = "QUJD"
    mtom.include(node, "Doc 01@caducee")
    assert node.text is None
    assert node[0].get("href") == "cid:Doc%2001@caducee"
    assert mtom.include_target(node) == "Doc 01@caducee"
    assert mtom.include_target(etree.Element("x")) is None
    node[0].set("href", "http://ailleurs")
    with pytest.raises(DmpInvalidResponse):
        mtom.include_target(node)


def _sample() -> tuple[bytes, str]:
    return mtom.encode(ROOT, [mtom.Part("a@x", b"AAA")], action=ACTION)


def test_truncated_multipart() -> None:
    body, content_type = _sample()
    with pytest.raises(DmpInvalidResponse, match="tronqué"):
        mtom.decode(content_type, body[: len(body) - 30])


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda b, c: (b, c.replace("boundary=", "x=")), "boundary"),
        (lambda b, c: (b, "text/html"), "type inattendu"),
        (lambda b, c: (b, ""), "type inattendu"),
        (lambda b, c: (b"garbage without any delimiter", c), "délimiteur"),
        (lambda b, c: (b.replace(b"Content-ID: <a@x>\r\n", b""), c), "sans Content-ID"),
        (
            lambda b, c: (
                b.replace(
                    b"Content-Transfer-Encoding: binary\r\nContent-ID: <a@x>",
                    b"Content-Transfer-Encoding: quoted-printable\r\nContent-ID: <a@x>",
                ),
                c,
            ),
            "encodage",
        ),
        (lambda b, c: (b.replace(b"Content-ID: <a@x>", b"Content-ID <a@x>"), c), "en-tête"),
    ],
)
def test_malformed_multiparts(mutate, words) -> None:  # type: ignore[no-untyped-def]
    body, content_type = mutate(*_sample())
    with pytest.raises(DmpInvalidResponse, match=words):
        mtom.decode(content_type, body)


def test_base64_part_and_preamble() -> None:
    body, content_type = _sample()
    body = b"preamble\r\n" + body.replace(
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <a@x>\r\n\r\nAAA",
        b"Content-Transfer-Encoding: base64\r\nContent-ID: <a@x>\r\n\r\nQUFB",
    )
    assert mtom.decode(content_type, body) == (ROOT, {"a@x": b"AAA"})


def test_encode_refuses_duplicate_ids() -> None:
    with pytest.raises(ValueError):
        mtom.encode(ROOT, [mtom.Part("a@x", b"1"), mtom.Part("a@x", b"2")], action=ACTION)
    with pytest.raises(ValueError):
        mtom.encode(ROOT, [mtom.Part("a>\r\nX-Injected: 1", b"1")], action=ACTION)
