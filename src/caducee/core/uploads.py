"""Uploaded files (issue 6 §3): size-limited and type-checked by their first bytes, not by their name.

`UploadLimitMiddleware` refuses a multipart request whose body is larger than UPLOAD_MAX_BYTES before Django reads
it; every view taking a file calls `check_upload` with the kinds it accepts and its own size limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse

# Magic numbers: PDF 1.7 §7.5.2 (header), PNG §5.2 (signature), JPEG SOI + marker, ZIP local file header
# (the IHE XDM archive), XML (optional UTF-8 BOM, then "<").
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "zip": (b"PK\x03\x04",),
}
LABELS = {"pdf": "PDF", "png": "PNG", "jpeg": "JPEG", "zip": "ZIP", "xml": "XML"}


class UploadError(ValueError):
    """An uploaded file refused; the message is French, for the user."""


def _readable_size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")


def detect_kind(head: bytes) -> str | None:
    for kind, signatures in _SIGNATURES.items():
        if head.startswith(signatures):
            return kind
    if head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"<"):
        return "xml"
    return None


def check_upload(upload: UploadedFile | None, *, kinds: Iterable[str], max_bytes: int | None = None) -> str:
    """The kind of `upload` among `kinds`, read from its first bytes; UploadError when absent, too big or another
    type (whatever its name or the browser's Content-Type say)."""
    allowed = tuple(kinds)
    if upload is None:
        raise UploadError("Aucun fichier reçu.")
    limit = max_bytes or settings.UPLOAD_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise UploadError(
            f"Fichier trop volumineux ({_readable_size(upload.size or 0)}) : {_readable_size(limit)} au maximum."
        )
    if upload.size == 0:
        raise UploadError("Le fichier reçu est vide.")
    upload.seek(0)
    head = upload.read(64)
    upload.seek(0)
    kind = detect_kind(head)
    if kind not in allowed:
        expected = ", ".join(LABELS.get(k, k) for k in allowed)
        raise UploadError(f"Type de fichier refusé : le contenu n'est pas un fichier {expected}.")
    return kind


class UploadLimitMiddleware:
    """413 for a multipart body above UPLOAD_MAX_BYTES (Content-Length), before any upload is parsed."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.content_type == "multipart/form-data":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.UPLOAD_MAX_BYTES:
                return HttpResponse(
                    f"Envoi trop volumineux : {_readable_size(settings.UPLOAD_MAX_BYTES)} au maximum.",
                    status=413,
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)
