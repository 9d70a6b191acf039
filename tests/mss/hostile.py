"""Builders of received material for the inbox tests: a real VSM of a patient in an IHE_XDM.zip, mails around it,
and hostile variants (path traversal, zip bomb, XXE, billion laughs, broken METADATA, wrong hash, non-UTF-8,
malformed MIME)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from email.message import EmailMessage
from email.utils import make_msgid

from caducee.documents.cda.header import DocumentIds
from caducee.documents.cda.vsm import build_vsm
from caducee.documents.xds import xds_metadata
from caducee.mss.xdm import METADATA, SUBSET, build_xdm
from caducee.record.selectors import record_summary
from tests.sandbox.dmp_client import sample_entry, submission

# An outside practice's document OID (the sender's, never ours).
SENDER_ROOT = "1.2.250.1.999.77.1"
WHEN = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
PDF = b"%PDF-1.4\n% test\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def vsm_cda(practice, author, patient, *, ext: str = "1001", set_ext: str | None = None, version: int = 1) -> bytes:  # type: ignore[no-untyped-def]
    """A VSM 1.4 of `patient` built by the product's own builder, under an outside document root."""
    ids = DocumentIds(SENDER_ROOT, ext, SENDER_ROOT, set_ext or ext, version)
    replaces = (
        DocumentIds(SENDER_ROOT, f"{set_ext}-prev", SENDER_ROOT, set_ext or ext, version - 1) if version > 1 else None
    )
    return build_vsm(
        summary=record_summary(patient),
        ids=ids,
        practice=practice,
        author=author,
        effective_time=WHEN,
        replaces=replaces,
    )


def xdm_of(cda: bytes, *, with_ins: bool = True, matricule: str = "297022A02012345") -> bytes:
    """The IHE_XDM.zip of one CDA: the DMP metadata when the CDA carries an INS, a sample entry otherwise."""
    if with_ins:
        entry = xds_metadata(cda, submission=submission())
    else:
        entry = sample_entry(matricule, content=cda)
    return build_xdm([entry], submission(), sender="Dr Anne LEROY", software="Autre logiciel 1.0")


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def mail(
    *,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    sender: str = "anne.leroy@demo.mssante.fr",
    to: str = "claire.martin@demo.mssante.fr",
    subject: str = "XDM/1.0/DDM+Synthèse ADRTROIS Dominique 26/02/1997",
    body: str = "Bonjour, ci-joint la synthèse.",
    mdn: bool = False,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dr Anne LEROY <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="demo.mssante.fr")
    msg["X-MSS-NIL"] = "TEST"
    if mdn:
        msg["Disposition-Notification-To"] = sender
    msg.set_content(body)
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


# --- hostile --------------------------------------------------------------------------------------------------------


def traversal_zip(valid: bytes) -> bytes:
    return zip_of({**members_of(valid), "../../../outside/evil.txt": b"pwned", "/etc/abs.txt": b"pwned"})


def bomb_zip(valid: bytes) -> bytes:
    """A member inflating 20 MB of zeros from a few kilobytes (ratio far above the limit)."""
    return zip_of({**members_of(valid), f"{SUBSET}/BOMB.XML": b"\0" * (20 * 1024 * 1024)})


XXE_METADATA = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0">'
    b"&xxe;</lcm:SubmitObjectsRequest>"
)
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">&lol3;</ClinicalDocument>'
)


def xxe_zip(valid: bytes) -> bytes:
    return zip_of({**members_of(valid), METADATA: XXE_METADATA})


def xxe_cda_zip() -> bytes:
    """A valid XDM (hashes right) whose CDA carries a DTD with an external entity."""
    cda = (
        b'<?xml version="1.0"?>\n<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1.2.3" extension="x"/>'
        b"<title>&xxe;</title></ClinicalDocument>"
    )
    return build_xdm([sample_entry("297022A02012345", content=cda)], submission(), sender="X", software="X")


def broken_metadata_zip(valid: bytes) -> bytes:
    return zip_of({**members_of(valid), METADATA: b"<lcm:SubmitObjectsRequest"})


def wrong_hash_zip(valid: bytes) -> bytes:
    members = members_of(valid)
    name = f"{SUBSET}/DOC0001.XML"
    data = bytearray(members[name])
    at = data.index(b"<title>") + len(b"<title>")
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")  # same size, other content
    members[name] = bytes(data)
    return zip_of(members)


def latin1_cda_zip(cda: bytes) -> bytes:
    """The same CDA re-encoded in ISO-8859-1 (its metadata hash matching the new bytes)."""
    text = cda.decode("utf-8").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"', 1)
    if 'encoding="ISO-8859-1"' not in text[:100]:
        text = '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + text.split("?>", 1)[-1].lstrip()
    latin = text.encode("iso-8859-1", "replace")
    entry = sample_entry("297022A02012345", content=latin)
    assert entry.hash == hashlib.sha1(latin).hexdigest()  # noqa: S324
    return build_xdm([entry], submission(), sender="X", software="X")


MALFORMED_MIME = (
    b"From: Dr X <x@demo.mssante.fr>\r\nTo: y@demo.mssante.fr\r\nSubject: casse\r\nMessage-ID: <broken@x>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
    b"--nowhere\r\nContent-Type: text/plain\r\n\r\nbonjour\r\n"
)
