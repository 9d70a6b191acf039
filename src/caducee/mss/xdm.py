"""IHE XDM (ITI-32) archives: how a clinical document travels by MSSanté (`IHE_XDM.zip`, issue 5 §2).

Layout (../shared/reference/dmp_mss/examples/xdm_zip_layout.txt, notes §2.3): `INDEX.HTM` (a human index),
`README.TXT` (sender, software), `IHE_XDM/SUBSET01/METADATA.XML` (an ebRIM `SubmitObjectsRequest` with the same
XDS metadata as the DMP — `caducee.documents.xds` — each ExtrinsicObject naming its file in a `URI` slot), and the CDA
files under `IHE_XDM/SUBSET01/`.

`read_xdm` treats every archive as hostile: names with `..`, absolute paths, backslashes or drive letters,
encrypted members, too many members, members or a total too large once inflated, a suspicious compression ratio
(zip bomb), XML with a DTD or entities (XXE), documents whose SHA-1 or size differ from the metadata, are refused
with a French reason (`XdmError`), before anything is stored.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import html
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from lxml import etree

from caducee.documents import xds_codes as codes
from caducee.documents.validation import UnsafeXml, parse_untrusted
from caducee.documents.xds import NS_LCM, NS_RIM, SubmissionInfo, XdsDocumentEntry, provide_and_register_request

SUBSET = "IHE_XDM/SUBSET01"
METADATA = f"{SUBSET}/METADATA.XML"
MAX_MEMBERS = 50
MAX_MEMBER_BYTES = 30 * 1024 * 1024
MAX_TOTAL_BYTES = 60 * 1024 * 1024
MAX_RATIO = 200  # inflated / compressed, per member: text compresses ~10×, a bomb thousands of times


class XdmError(ValueError):
    """The archive is refused; the message (French) says why."""


@dataclass(frozen=True)
class XdmDocument:
    file_name: str  # inside IHE_XDM/SUBSET01/
    content: bytes
    unique_id: str
    mime_type: str


@dataclass(frozen=True)
class XdmArchive:
    documents: tuple[XdmDocument, ...]
    metadata: etree._Element = field(repr=False)  # the SubmitObjectsRequest
    readme: str = ""


# --- writing ------------------------------------------------------------------------------------------------------


def _uri_slot(extrinsic: etree._Element, file_name: str) -> None:
    """Slot "URI" (the file inside the subset), placed with the other slots (ebRIM: Slot* come first)."""
    slot = etree.Element(f"{{{NS_RIM}}}Slot", name="URI")
    etree.SubElement(etree.SubElement(slot, f"{{{NS_RIM}}}ValueList"), f"{{{NS_RIM}}}Value").text = file_name
    slots = extrinsic.findall(f"{{{NS_RIM}}}Slot")
    (slots[-1].addnext if slots else lambda node: extrinsic.insert(0, node))(slot)


def _index_htm(entries: Sequence[XdsDocumentEntry], names: Sequence[str], sender: str) -> bytes:
    items = "".join(
        f'<li><a href="{SUBSET}/{html.escape(name)}">{html.escape(entry.title)}</a></li>'
        for entry, name in zip(entries, names, strict=True)
    )
    page = (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Documents transmis</title></head>'
        f"<body><h1>Documents transmis par {html.escape(sender)}</h1><ul>{items}</ul></body></html>"
    )
    return page.encode("utf-8")


def build_xdm(
    entries: Sequence[XdsDocumentEntry],
    submission: SubmissionInfo,
    *,
    sender: str,
    software: str,
    now: dt.datetime | None = None,
) -> bytes:
    """The `IHE_XDM.zip` of one patient's documents (metadata from `caducee.documents.xds.xds_metadata`)."""
    request = provide_and_register_request(entries, submission)  # one patient per lot, checked there
    metadata = copy.deepcopy(request.find(f"{{{NS_LCM}}}SubmitObjectsRequest"))
    assert metadata is not None
    names = [f"DOC{index:04d}.XML" for index, _ in enumerate(entries, start=1)]
    by_id = {eo.get("id"): eo for eo in metadata.iter(f"{{{NS_RIM}}}ExtrinsicObject")}
    for entry, name in zip(entries, names, strict=True):
        _uri_slot(by_id[entry.entry_id], name)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    readme = (
        f"Documents de santé transmis par messagerie sécurisée (MSSanté), format IHE XDM.\r\n"
        f"Émetteur : {sender}\r\nLogiciel : {software}\r\nDate : {moment:%Y-%m-%d %H:%M:%S} UTC\r\n"
        f"Contenu : {METADATA} (métadonnées XDS) et {len(entries)} document(s) CDA R2.\r\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("INDEX.HTM", _index_htm(entries, names, sender))
        archive.writestr("README.TXT", readme.encode("utf-8"))
        archive.writestr(METADATA, etree.tostring(metadata, xml_declaration=True, encoding="UTF-8"))
        for entry, name in zip(entries, names, strict=True):
            archive.writestr(f"{SUBSET}/{name}", entry.content)
    return buffer.getvalue()


# --- reading -------------------------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or name.startswith("/")
        or ":" in name.split("/", 1)[0]
        or any(part in ("..", "") for part in path.parts)
    ):
        raise XdmError(f"archive refusée : nom de fichier dangereux « {name} ».")
    return name


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > MAX_MEMBERS:
        raise XdmError(f"archive refusée : {len(infos)} fichiers (au plus {MAX_MEMBERS}).")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = _safe_name(info.filename)
        if info.flag_bits & 0x1:
            raise XdmError(f"archive refusée : « {name} » est chiffré.")
        if name.upper() in members:
            raise XdmError(f"archive refusée : « {name} » apparaît deux fois.")
        if info.file_size > MAX_MEMBER_BYTES:
            raise XdmError(f"archive refusée : « {name} » est trop volumineux.")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise XdmError(f"archive refusée : taux de compression anormal pour « {name} » (bombe de décompression).")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise XdmError("archive refusée : contenu décompressé trop volumineux.")
        members[name.upper()] = info
    return members


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than it declared (a forged header cannot inflate past the limits)."""
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise XdmError(f"archive refusée : taille réelle de « {info.filename} » différente de celle annoncée.")
    return data


def _slot1(node: etree._Element, name: str) -> str:
    values = node.xpath("rim:Slot[@name=$n]/rim:ValueList/rim:Value/text()", namespaces={"rim": NS_RIM}, n=name)
    return str(values[0]).strip() if isinstance(values, list) and values else ""


def read_xdm(data: bytes) -> XdmArchive:
    """The documents of an `IHE_XDM.zip`, each checked against its metadata (URI, SHA-1 hash, size)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise XdmError("ce fichier n'est pas une archive ZIP lisible.") from exc
    with archive:
        members = _members(archive)
        info = members.get(METADATA.upper())
        if info is None:
            raise XdmError(f"archive XDM sans {METADATA}.")
        try:
            metadata = parse_untrusted(_read(archive, info)).getroot()
        except UnsafeXml as exc:
            raise XdmError(f"métadonnées XDM refusées : {exc}") from exc
        if metadata.tag != f"{{{NS_LCM}}}SubmitObjectsRequest":
            raise XdmError("métadonnées XDM illisibles : SubmitObjectsRequest attendu.")
        documents = []
        for eo in metadata.iter(f"{{{NS_RIM}}}ExtrinsicObject"):
            if eo.get("objectType") != codes.DOCUMENT_ENTRY_STABLE:
                continue
            uri = _slot1(eo, "URI")
            member = members.get(f"{SUBSET}/{_safe_name(uri)}".upper()) if uri else None
            if member is None:
                raise XdmError(f"document « {uri or '?'} » annoncé dans les métadonnées mais absent de l'archive.")
            content = _read(archive, member)
            if _slot1(eo, "size") and _slot1(eo, "size") != str(len(content)):
                raise XdmError(f"« {uri} » : taille différente de celle des métadonnées.")
            digest = hashlib.sha1(content).hexdigest()  # noqa: S324 - XDS hash is SHA-1 by definition
            if _slot1(eo, "hash").lower() != digest:
                raise XdmError(f"« {uri} » : empreinte (hash) différente de celle des métadonnées.")
            unique_id = eo.xpath(
                "rim:ExternalIdentifier[@identificationScheme=$s]/@value",
                namespaces={"rim": NS_RIM},
                s=codes.DE_UNIQUE_ID,
            )
            documents.append(
                XdmDocument(
                    file_name=uri,
                    content=content,
                    unique_id=str(unique_id[0]) if isinstance(unique_id, list) and unique_id else "",
                    mime_type=eo.get("mimeType", ""),
                )
            )
        if not documents:
            raise XdmError("archive XDM sans document.")
        readme_info = members.get("README.TXT")
        readme = _read(archive, readme_info).decode("utf-8", "replace") if readme_info else ""
    return XdmArchive(documents=tuple(documents), metadata=metadata, readme=readme)
