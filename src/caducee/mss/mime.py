"""Received mails read as a stream (issue 5 §4, §9): the MIME structure scanned from the stored file, each part's
headers parsed alone, attachments decoded in chunks into temporary files of the message store.

Python's email parser keeps every part in memory several times over (a 50 MB message costs some 300 MB); the inbox
must stay under 200 MB whatever the message, so `scan_mail` records offsets only (RFC 2046 boundaries) and
`attachments` / `body_text` decode from those offsets. Malformed structures are reported as `Scan.defects`.
"""

from __future__ import annotations

import binascii
import email.errors
import io
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesFeedParser, BytesHeaderParser
from email.policy import Policy, compat32
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import IO

from caducee.mss import store

MAX_BODY_CHARS = 200_000
HEAD = 4096  # bytes read to tell what an input is
_CHUNK = 1024 * 1024
_MAXHEADER_BYTES = 256 * 1024
_MAX_LINE = 64 * 1024
_MAX_DEPTH = 8
_MAX_PARTS = 100
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
_SPACES = re.compile(rb"\s+")


def detect_kind(head: bytes) -> str:
    """ "zip", "xml" or "eml", from the first bytes (never from a file name); "" when none of them."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "xml"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "xml"  # UTF-16 (refused later as non-UTF-8, but recognised as XML)
    first = text.split(b"\n", 1)[0]
    if re.match(rb"^(From |[!-9;-~]+:)", first):
        return "eml"
    return ""


def _decoded(value: object) -> str:
    """An RFC 2047 header value as text (encoded words decoded; an undecodable one kept as it came)."""
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, TypeError, LookupError, UnicodeError, email.errors.HeaderParseError):
        text = str(value)
    return " ".join(text.split())


def header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return _decoded(value) if value is not None else ""


def msgid(value: str) -> str:
    return value.strip().strip("<>").strip()[:250]


def address(msg: Message, name: str) -> tuple[str, str]:
    raw = msg.get(name)
    if raw is None:
        return "", ""
    pairs = getaddresses([str(raw)])
    display, address = pairs[0] if pairs else parseaddr(str(raw))
    return address.strip().lower()[:254], _decoded(display)[:200]


def parse_mail(source: IO[bytes], policy: Policy) -> Message:
    parser = BytesFeedParser(policy=policy)
    while chunk := source.read(_CHUNK):
        parser.feed(chunk)
    return parser.close()


class _Lines:
    """The lines of a file with their offsets (a line longer than _MAX_LINE comes in pieces), one pushed back."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.pending: tuple[int, bytes, bool] | None = None
        self.at_start = True

    def next(self) -> tuple[int, bytes, bool] | None:
        """(offset, line, whether it starts a physical line) or None at the end."""
        if self.pending is not None:
            item, self.pending = self.pending, None
            return item
        offset = self.handle.tell()
        line = self.handle.readline(_MAX_LINE)
        if not line:
            return None
        item = (offset, line, self.at_start)
        self.at_start = line.endswith(b"\n")
        return item

    def push(self, item: tuple[int, bytes, bool]) -> None:
        self.pending = item

    def offset(self) -> int:
        return self.pending[0] if self.pending is not None else self.handle.tell()


@dataclass
class _Leaf:
    headers: Message
    start: int
    end: int


@dataclass
class Scan:
    top: Message
    leaves: list[_Leaf] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _delimiter(item: tuple[int, bytes, bool], boundaries: list[bytes]) -> tuple[bytes, bool] | None:
    """(boundary, is the closing one) when the line is a boundary line of one of `boundaries`."""
    _, line, at_start = item
    if not at_start or not line.startswith(b"--"):
        return None
    text = line.rstrip(b"\r\n").rstrip(b" \t")
    for boundary in reversed(boundaries):  # the innermost first
        if text == b"--" + boundary:
            return boundary, False
        if text == b"--" + boundary + b"--":
            return boundary, True
    return None


def _read_headers(lines: _Lines, scan: Scan) -> Message | None:
    block = bytearray()
    while True:
        item = lines.next()
        if item is None:
            scan.defects.append("MissingHeaderBodySeparatorDefect")
            return None
        line = item[1]
        if line in (b"\r\n", b"\n"):
            return BytesHeaderParser(policy=compat32).parsebytes(bytes(block))
        block += line
        if len(block) > _MAXHEADER_BYTES:
            scan.defects.append("HeaderTooLong")
            return None


def _consume(lines: _Lines, boundaries: list[bytes]) -> tuple[int, int]:
    """Skip a body up to the next boundary line (left for the caller); (start, end) offsets of the body, the line
    break before the boundary excluded (RFC 2046 §5.1.1: it belongs to the boundary)."""
    start = lines.offset()
    end = start
    previous_break = 0
    while (item := lines.next()) is not None:
        if _delimiter(item, boundaries) is not None:
            lines.push(item)
            return start, max(start, item[0] - previous_break)
        offset, line, _ = item
        previous_break = 2 if line.endswith(b"\r\n") else 1 if line.endswith(b"\n") else 0
        end = offset + len(line)
    return start, end


def _walk(lines: _Lines, headers: Message, boundaries: list[bytes], scan: Scan, depth: int) -> None:
    if len(scan.leaves) > _MAX_PARTS:
        scan.defects.append("TooManyParts")
        _consume(lines, boundaries)
        return
    boundary_text = headers.get_boundary() if headers.get_content_maintype() == "multipart" else None
    if headers.get_content_maintype() != "multipart" or depth >= _MAX_DEPTH:
        start, end = _consume(lines, boundaries)
        scan.leaves.append(_Leaf(headers, start, end))
        return
    if not boundary_text:
        scan.defects.append("NoBoundaryInMultipartDefect")
        _consume(lines, boundaries)
        return
    boundary = boundary_text.encode("ascii", "replace")
    inner = [*boundaries, boundary]
    _consume(lines, inner)  # the preamble
    item = lines.next()
    found = _delimiter(item, inner) if item is not None else None
    if found is None or found[0] != boundary:
        scan.defects.append("StartBoundaryNotFoundDefect")
        if item is not None:
            lines.push(item)
        return
    closed = found[1]
    while not closed:
        part = _read_headers(lines, scan)
        if part is None:
            return
        _walk(lines, part, inner, scan, depth + 1)
        item = lines.next()
        found = _delimiter(item, inner) if item is not None else None
        if found is None or found[0] != boundary:
            scan.defects.append("CloseBoundaryNotFoundDefect")
            if item is not None:
                lines.push(item)
            return
        closed = found[1]
    _consume(lines, boundaries)  # the epilogue


def scan_mail(handle: IO[bytes]) -> Scan | None:
    """The MIME structure of a stored message; None when its headers cannot be read at all."""
    lines = _Lines(handle)
    first = lines.next()
    if first is not None and not first[1].startswith(b"From "):
        lines.push(first)  # an mbox "From " line is skipped, anything else is the first header
    scan = Scan(top=Message())
    top = _read_headers(lines, scan)
    if top is None:
        return None
    scan.top = top
    _walk(lines, top, [], scan, 0)
    return scan


def decode_into(handle: IO[bytes], leaf: _Leaf, out: IO[bytes], limit: int | None = None) -> bool:
    """Decode the part's body (Content-Transfer-Encoding) into `out`, in chunks; False when badly encoded."""
    encoding = str(leaf.headers.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    handle.seek(leaf.start)
    remaining = leaf.end - leaf.start
    written = 0
    good = True
    carry = b""
    while remaining > 0 and (limit is None or written < limit):
        if encoding == "quoted-printable":
            chunk = handle.readline(min(_MAX_LINE, remaining))
        else:
            chunk = handle.read(min(_CHUNK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        if encoding == "base64":
            clean = _SPACES.sub(b"", chunk)
            if _NOT_BASE64.search(clean):
                good = False
                clean = _NOT_BASE64.sub(b"", clean)
            data = carry + clean
            cut = len(data) - len(data) % 4
            carry = data[cut:]
            try:
                decoded = binascii.a2b_base64(data[:cut])
            except binascii.Error:
                good, decoded = False, b""
        elif encoding == "quoted-printable":
            decoded = binascii.a2b_qp(chunk)
        else:
            decoded = chunk
        out.write(decoded)
        written += len(decoded)
    if carry:
        good = False
    return good


def _is_attachment(leaf: _Leaf) -> bool:
    disposition = str(leaf.headers.get("Content-Disposition", "")).strip().lower()
    return disposition.startswith("attachment") or bool(leaf.headers.get_param("name") or _filename(leaf))


def _filename(leaf: _Leaf) -> str:
    try:
        return _decoded(leaf.headers.get_filename() or "")
    except (ValueError, LookupError, TypeError):
        return ""


def body_text(handle: IO[bytes], scan: Scan) -> tuple[str, str]:
    """The text of the message (text/plain, else the text/html alternative) and an encoding problem if any."""
    texts = [
        leaf
        for leaf in scan.leaves
        if leaf.headers.get_content_type() in ("text/plain", "text/html") and not _is_attachment(leaf)
    ]
    body = next((leaf for leaf in texts if leaf.headers.get_content_subtype() == "plain"), texts[0] if texts else None)
    if body is None:
        return "", ""
    buffer = io.BytesIO()
    decode_into(handle, body, buffer, limit=MAX_BODY_CHARS * 4)
    payload = buffer.getvalue()
    charset = body.headers.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset)
        problem = ""
    except (LookupError, UnicodeDecodeError):
        text = payload.decode("utf-8", "replace")
        problem = f"texte du message illisible dans l'encodage annoncé ({charset}) : UTF-8 attendu (CONF.19)."
    if body.headers.get_content_subtype() == "html":
        text = re.sub(r"<[^>]+>", " ", text)
    return text[:MAX_BODY_CHARS].strip(), problem


_IN_MEMORY = 2 * 1024 * 1024  # encoded parts up to this size are decoded in memory, larger ones into a file


@dataclass
class Attachment:
    name: str
    kind: str  # zip | xml | pdf
    well_encoded: bool
    data: bytes | None = None  # a small part
    path: Path | None = None  # a large part, decoded into a temporary file of the store

    def read(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes() if self.path else b""

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def attachments(handle: IO[bytes], scan: Scan) -> list[Attachment]:
    """The parts that can hold documents (zip, xml, pdf: by content), each decoded (large ones into a file)."""
    found: list[Attachment] = []
    for index, leaf in enumerate(scan.leaves, start=1):
        maintype = leaf.headers.get_content_maintype()
        is_text_body = leaf.headers.get_content_type() in ("text/plain", "text/html") and not _is_attachment(leaf)
        if maintype in ("multipart", "message") or is_text_body:
            continue
        name = _filename(leaf)[:200] or f"pièce jointe {index}"
        if leaf.end - leaf.start <= _IN_MEMORY:
            buffer = io.BytesIO()
            good = decode_into(handle, leaf, buffer)
            attachment = Attachment(name, "", good, data=buffer.getvalue())
            head = attachment.data[:HEAD] if attachment.data else b""
        else:
            path = store.temp_file()
            with open(path, "wb") as out:
                good = decode_into(handle, leaf, out)
            with open(path, "rb") as decoded:
                head = decoded.read(HEAD)
            attachment = Attachment(name, "", good, path=path)
        attachment.kind = "pdf" if head.startswith(b"%PDF-") else detect_kind(head)
        if attachment.kind in ("zip", "xml", "pdf"):
            found.append(attachment)
        else:
            attachment.discard()
    return found
