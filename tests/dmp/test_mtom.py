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


def test_mutated_answers_only_ever_raise_dmp_invalid_response() -> None:
    """Seeded byte-level fuzzing of a valid ITI-43-like answer through decode → SOAP → retrieve parsing."""
    import hashlib
    import random

    from caducee.dmp import registry, soap
    from caducee.dmp.api import STATUS_APPROVED, DmpDocument, DmpError
    from caducee.documents.xds_codes import CLASS_REPORT, FORMAT_N1_PDF
    from tests.dmp.dmp_answers import envelope as answer_envelope
    from tests.dmp.dmp_answers import retrieve_response

    content = b"<ClinicalDocument>contenu</ClinicalDocument>"
    document = DmpDocument(
        entry_uuid="urn:uuid:1", unique_id="1.2.3", logical_id="urn:uuid:1", repository_unique_id="1.2",
        status=STATUS_APPROVED, title="t", type_code=CLASS_REPORT, class_code=CLASS_REPORT, format_code=FORMAT_N1_PDF,
        confidentiality=("N",), author_person="8^A", author_institution="", creation_time="2026",
        service_start_time="2026", submission_time="2026", mime_type="text/xml",
        hash=hashlib.sha1(content).hexdigest(), size=len(content),  # noqa: S324
    )  # fmt: skip
    body = retrieve_response([("1.2", "1.2.3", "text/xml", "d@x")])
    envelope = answer_envelope(body, action="a", relates_to="r")
    data, content_type = mtom.encode(envelope, [mtom.Part("d@x", content)], action="a")
    rng = random.Random(20260301)
    outcomes = {"ok": 0, "invalid": 0}
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.4:
                mutated[position] = rng.randrange(256)
            elif choice < 0.7:
                del mutated[position : position + rng.randint(1, 40)]
            else:
                mutated[position:position] = rng.choice([b"\r\n", b"--", b"<", b"&x;", b"\x00", b"<!DOCTYPE"])
        try:
            root, parts = mtom.decode(content_type, bytes(mutated))
            message = soap.parse_envelope(root)
            assert registry.parse_retrieve_response(message.body, parts, document) == content
            outcomes["ok"] += 1
        except DmpError:
            outcomes["invalid"] += 1
    assert outcomes["invalid"] > 100  # the mutations did bite, and nothing but a DmpError came out
