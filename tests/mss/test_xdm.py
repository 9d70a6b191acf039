"""IHE_XDM.zip: written with the DMP's XDS metadata (XSD-valid, URI slots), read back, hostile archives refused."""

from __future__ import annotations

import io
import zipfile

import pytest
from lxml import etree

from caducee.documents.xds import NS_RIM, xds_metadata
from caducee.mss.xdm import METADATA, SUBSET, XdmError, build_xdm, read_xdm
from tests.dmp.dmp_answers import xds_schema
from tests.sandbox.dmp_client import sample_entry, submission

MATRICULE = "101063417209334"


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_round_trip_with_the_dmp_metadata_and_uri_slots() -> None:
    first = sample_entry(MATRICULE, entry_id="Document01")
    second = sample_entry(MATRICULE, entry_id="Document02", content=b"<ClinicalDocument>deux</ClinicalDocument>")
    data = build_xdm([first, second], submission(), sender="Dr Claire MARTIN", software="Caducee 0.1.0")
    members = _members(data)
    assert set(members) == {"INDEX.HTM", "README.TXT", METADATA, f"{SUBSET}/DOC0001.XML", f"{SUBSET}/DOC0002.XML"}
    metadata = etree.fromstring(members[METADATA])
    assert xds_schema().validate(metadata), xds_schema().error_log
    uris = metadata.xpath(
        "//rim:ExtrinsicObject/rim:Slot[@name='URI']/rim:ValueList/rim:Value/text()", namespaces={"rim": NS_RIM}
    )
    assert uris == ["DOC0001.XML", "DOC0002.XML"]
    assert "Dr Claire MARTIN" in members["INDEX.HTM"].decode() and "Caducee" in members["README.TXT"].decode()

    archive = read_xdm(data)
    assert [(d.file_name, d.content, d.unique_id) for d in archive.documents] == [
        ("DOC0001.XML", first.content, first.unique_id),
        ("DOC0002.XML", second.content, second.unique_id),
    ]


@pytest.mark.django_db
def test_a_real_n1_letter_travels_whole(practice, doctor, make_patient, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.dmp.fake_dmp import store_n1

    settings.SANDBOX = True  # a test INS (R28 keeps it from real services)
    from tests.documents.cda_records import qualify

    patient = make_patient()
    qualify(patient)
    letter = store_n1(practice=practice, author=doctor, patient=patient)
    entry = xds_metadata(bytes(letter.cda), pdf=bytes(letter.pdf), submission=submission())
    (document,) = read_xdm(build_xdm([entry], submission(), sender="Dr X", software="Caducee")).documents
    assert document.content == bytes(letter.cda) and document.unique_id == letter.unique_id


def _valid() -> dict[str, bytes]:
    return _members(build_xdm([sample_entry(MATRICULE)], submission(), sender="Dr X", software="Caducee"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: {**m, "../../etc/passwd": b"x"}, "nom de fichier dangereux"),
        (lambda m: {**m, "/etc/passwd": b"x"}, "nom de fichier dangereux"),
        (lambda m: {**m, "IHE_XDM\\SUBSET01\\X.XML": b"x"}, "nom de fichier dangereux"),
        (lambda m: {**m, "C:/x.txt": b"x"}, "nom de fichier dangereux"),
        (lambda m: {k: v for k, v in m.items() if k != METADATA}, "sans IHE_XDM/SUBSET01/METADATA.XML"),
        (lambda m: {k: v for k, v in m.items() if not k.endswith("DOC0001.XML")}, "absent de l'archive"),
        (lambda m: {**m, f"{SUBSET}/DOC0001.XML": m[f"{SUBSET}/DOC0001.XML"] + b" "}, "différente"),
        (lambda m: m | {f"{SUBSET}/EXTRA{i}.BIN": b"" for i in range(60)}, "fichiers"),
        (
            lambda m: {
                **m,
                METADATA: b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
            },
            "métadonnées XDM refusées",
        ),
    ],
)
def test_hostile_archives_are_refused_with_a_reason(change, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(XdmError, match=reason):
        read_xdm(_zip(change(_valid())))


def test_zip_bomb_and_garbage_are_refused() -> None:
    bomb = _zip({**_valid(), "zeros.bin": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 200_000
    with pytest.raises(XdmError, match="bombe de décompression"):
        read_xdm(bomb)
    with pytest.raises(XdmError, match="pas une archive ZIP"):
        read_xdm(b"PK\x03\x04 ceci n'est pas un zip")
