"""Where received messages and their documents are written: `settings.DATA_DIR / "mss"`, and nowhere else (§8).

Every file name is generated here (a random hex name, a fixed suffix chosen from a short list); nothing from the
input — an attachment's file name, a zip member's path, a Message-ID — ever becomes part of a path. Paths kept in
the database are relative to the store, and `store_path` refuses any that would leave it.

Layout: `raw/AAAA/MM/<hex>.<eml|zip|xml|bin>` the message or imported file as received (kept; a quarantined one
only `settings.MSS_QUARANTINE_DAYS`, see `mss.retention`), `documents/AAAA/MM/<hex>.<xml|pdf>` a CDA (and its PDF)
waiting in the work list or quarantined, `tmp/` files being written (an IMAP fetch streamed to disk), moved into `raw/`
once complete.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

SUFFIXES = frozenset({"eml", "zip", "xml", "pdf", "bin"})
_CHUNK = 1024 * 1024


class StoreError(ValueError):
    """A path outside the store, or a suffix not in the list."""


def store_root() -> Path:
    """The store directory (created on first use); follows settings.DATA_DIR (tests change it)."""
    root = Path(settings.DATA_DIR).resolve() / "mss"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _new_relative(area: str, suffix: str) -> str:
    if suffix not in SUFFIXES:
        raise StoreError(f"suffixe refusé : {suffix!r}")
    today = dt.datetime.now(dt.UTC)
    return f"{area}/{today:%Y}/{today:%m}/{secrets.token_hex(16)}.{suffix}"


def store_path(relative: str) -> Path:
    """The absolute path of a stored file, refusing anything that resolves outside the store."""
    root = store_root()
    path = (root / relative).resolve()
    if not relative or Path(relative).is_absolute() or not path.is_relative_to(root) or path == root:
        raise StoreError(f"chemin hors du magasin de messages : {relative!r}")
    return path


def _create(relative: str) -> Path:
    path = store_path(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_bytes(area: str, suffix: str, data: bytes) -> str:
    """Write `data` to a new file of `area` ("raw" or "documents"); returns its path relative to the store."""
    relative = _new_relative(area, suffix)
    path = _create(relative)
    with open(path, "xb") as handle:  # x: a generated name never overwrites anything
        handle.write(data)
    return relative


def write_document(cda: bytes, pdf: bytes | None = None) -> str:
    """A received CDA (and its PDF, same name with `.pdf`) kept for the work list; returns the CDA's path."""
    relative = write_bytes("documents", "xml", cda)
    if pdf is not None:
        with open(store_path(relative[: -len("xml")] + "pdf"), "xb") as handle:
            handle.write(pdf)
    return relative


def document_pdf(relative: str) -> bytes | None:
    """The PDF kept next to a work-list CDA, if any."""
    if not relative.endswith(".xml"):
        return None
    path = store_path(relative[: -len("xml")] + "pdf")
    return path.read_bytes() if path.is_file() else None


def copy_in(area: str, suffix: str, source: BinaryIO) -> tuple[str, int]:
    """Stream `source` into a new file of `area` (chunks of 1 MiB: any size, bounded memory); (path, size)."""
    relative = _new_relative(area, suffix)
    path = _create(relative)
    size = 0
    with open(path, "xb") as handle:
        while chunk := source.read(_CHUNK):
            handle.write(chunk)
            size += len(chunk)
    return relative, size


def temp_file() -> Path:
    """A new empty file under `tmp/` (an IMAP fetch is streamed into it, then `adopt`ed)."""
    path = _create(f"tmp/{secrets.token_hex(16)}.bin")
    path.touch(exist_ok=False)
    return path


def adopt(path: Path, suffix: str) -> str:
    """Move a finished `tmp/` file into `raw/` (same file system: a rename); returns its relative path."""
    tmp = (store_root() / "tmp").resolve()
    if not path.resolve().is_relative_to(tmp):
        raise StoreError("seuls les fichiers temporaires du magasin peuvent y être déplacés.")
    relative = _new_relative("raw", suffix)
    os.replace(path, _create(relative))
    return relative


def read_bytes(relative: str) -> bytes:
    return store_path(relative).read_bytes()


def open_stored(relative: str) -> BinaryIO:
    return open(store_path(relative), "rb")


def stored_size(relative: str) -> int:
    """Bytes a stored file takes, with the PDF kept beside a work-list CDA (0 for a file already gone)."""
    total = 0
    for path in _with_pdf(relative):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            pass
    return total


def remove(relative: str) -> int:
    """Delete a stored file (and the PDF kept beside a CDA of `documents/`); returns the bytes freed. A file already
    gone is not an error (a purge interrupted, then run again); a path outside the store is refused (StoreError)."""
    freed = 0
    for path in _with_pdf(relative):
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        freed += size
    return freed


def _with_pdf(relative: str) -> list[Path]:
    path = store_path(relative)
    if relative.startswith("documents/") and relative.endswith(".xml"):
        return [path, store_path(relative[: -len("xml")] + "pdf")]
    return [path]


def clear_temp() -> None:
    """Remove leftovers of interrupted fetches (called when a synchronisation starts)."""
    shutil.rmtree(store_root() / "tmp", ignore_errors=True)
