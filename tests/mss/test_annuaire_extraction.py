"""Import of the public Extraction_Correspondance_MSSante file (issue 5 §5): layout, dedupe, bad lines, BOM."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from caducee.mss.annuaire.extraction import COLUMNS, ExtractionError, import_extraction
from caducee.mss.models import DirectoryEntry
from caducee.sandbox.annuaire import HEADER, generate_extraction

pytestmark = pytest.mark.django_db


def _line(**values: str) -> str:
    """One 31-column line (a médecin généraliste in Lyon), some columns changed by name."""
    fields = dict.fromkeys(COLUMNS, "")
    fields.update(
        {
            "Type de BAL": "PER",
            "Adresse BAL": "jean.dupont@medecin.mssante.fr",
            "Type Identifiant PP": "8",
            "Identifiant PP": "10001234567",
            "Identification nationale PP": "810001234567",
            "Civilité d'exercice": "DR",
            "Nom d'exercice": "DUPONT",
            "Prénom d'exercice": "Jean",
            "Code Profession": "10",
            "Libellé Profession": "Médecin",
            "Code savoir-faire": "SM54",
            "Libellé savoir-faire": "Médecine Générale",
            "Raison Sociale structure BAL": "CABINET DU DR DUPONT",
            "L4NUMEROVOIE": "3",
            "NL4TYPEVOIE": "RUE",
            "L4LIBELLEVOIE": "DES ÉCOLES",
            "L6LIGNEACHEMINEMENT": "69003 LYON CEDEX 03",
            "Code postal": "69003",
            "Département": "69",
            "Pays": "FRANCE",
        }
    )
    fields.update(values)
    return "|".join(fields[c] for c in COLUMNS)


def _write(path: Path, lines: list[str], *, bom: bool = False, header: bool = True) -> Path:
    text = "\n".join(([HEADER] if header else []) + lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_header_matches_the_published_columns() -> None:
    assert tuple(HEADER.split("|")) == COLUMNS and len(COLUMNS) == 31


def test_one_line_becomes_one_entry(tmp_path: Path) -> None:
    report = import_extraction(_write(tmp_path / "f.txt", [_line()]))
    assert (report.lines, report.imported, report.duplicates, report.bad_lines) == (1, 1, 0, 0)
    entry = DirectoryEntry.objects.get()
    assert entry.address == "jean.dupont@medecin.mssante.fr"
    assert (entry.kind, entry.national_id, entry.civility) == ("PER", "810001234567", "DR")
    assert (entry.family_name, entry.given_name) == ("DUPONT", "Jean")
    assert (entry.profession_code, entry.profession) == ("10", "Médecin")
    assert (entry.specialty_code, entry.specialty) == ("SM54", "Médecine Générale")
    assert entry.organisation == "CABINET DU DR DUPONT"
    assert entry.address_line == "3 RUE DES ÉCOLES"
    assert (entry.postal_code, entry.city) == ("69003", "LYON CEDEX 03")
    assert entry.search_name == "DUPONTJEANCABINETDUDRDUPONT"
    assert entry.search_city == "LYON"  # CEDEX dropped from the key
    assert entry.search_specialty == "MEDECINEGENERALE MEDECIN"
    assert entry.source == "extraction"


def test_bom_and_crlf_and_trailing_separator(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    text = HEADER + "|\r\n" + _line() + "|\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    report = import_extraction(path)
    assert (report.imported, report.bad_lines) == (1, 0)
    assert DirectoryEntry.objects.get().address == "jean.dupont@medecin.mssante.fr"


def test_duplicates_are_merged_on_the_address(tmp_path: Path) -> None:
    lines = [
        _line(),
        _line(**{"Adresse BAL": "Jean.Dupont@Medecin.MSSante.fr", "Raison Sociale structure BAL": "SELARL DUPONT"}),
        _line(**{"Adresse BAL": "autre@medecin.mssante.fr"}),
    ]
    report = import_extraction(_write(tmp_path / "f.txt", lines))
    assert (report.lines, report.imported, report.duplicates) == (3, 2, 1)
    assert DirectoryEntry.objects.count() == 2
    # The last line read wins (like a later upsert would).
    assert DirectoryEntry.objects.get(address="jean.dupont@medecin.mssante.fr").organisation == "SELARL DUPONT"


def test_bad_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    good = _line()
    lines = [
        good.encode(),
        b"PER|trop|court",
        _line(**{"Adresse BAL": "pas-une-adresse"}).encode(),
        _line(**{"Adresse BAL": "x@medecin.mssante.fr", "Nom d'exercice": "M\xc3\xbcLLER"}).encode()[:-1] + b"\xff",
        _line(**{"Adresse BAL": "ok@medecin.mssante.fr"}).encode(),
    ]
    path.write_bytes(HEADER.encode() + b"\n" + b"\n".join(lines) + b"\n")
    report = import_extraction(path, prune=False)
    assert (report.lines, report.imported, report.bad_lines) == (4, 2, 3)
    assert [n for n, _ in report.errors] == [3, 4, 5]
    reasons = " ".join(r for _, r in report.errors)
    assert "3 colonnes au lieu de 31" in reasons and "adresse BAL invalide" in reasons and "UTF-8" in reasons
    assert set(DirectoryEntry.objects.values_list("address", flat=True)) == {
        "jean.dupont@medecin.mssante.fr",
        "ok@medecin.mssante.fr",
    }


def test_not_an_extraction_file(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("nom;prenom;ville\nDUPONT;Jean;LYON\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="Extraction_Correspondance_MSSante"):
        import_extraction(path)
    path.write_text("Type de BAL|Adresse BAL|Autre\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="En-tête inattendu"):
        import_extraction(path)
    path.write_bytes(b"")
    with pytest.raises(ExtractionError, match="vide"):
        import_extraction(path)


def test_file_without_header_is_accepted(tmp_path: Path) -> None:
    report = import_extraction(_write(tmp_path / "f.txt", [_line()], header=False))
    assert report.imported == 1


def test_a_new_file_replaces_the_previous_one(tmp_path: Path) -> None:
    first = [_line(**{"Adresse BAL": f"p{i}@medecin.mssante.fr"}) for i in range(5)]
    import_extraction(_write(tmp_path / "1.txt", first))
    DirectoryEntry.objects.create(address="fhir@ch.mssante.fr", search_name="X", source="fhir")
    second = [_line(**{"Adresse BAL": f"p{i}@medecin.mssante.fr"}) for i in range(2, 7)]
    report = import_extraction(_write(tmp_path / "2.txt", second))
    assert (report.imported, report.removed, report.pruned) == (5, 2, True)
    addresses = set(DirectoryEntry.objects.values_list("address", flat=True))
    assert addresses == {f"p{i}@medecin.mssante.fr" for i in range(2, 7)} | {"fhir@ch.mssante.fr"}


def test_a_damaged_file_prunes_nothing(tmp_path: Path) -> None:
    import_extraction(_write(tmp_path / "1.txt", [_line(**{"Adresse BAL": f"p{i}@m.mssante.fr"}) for i in range(50)]))
    damaged = [_line(**{"Adresse BAL": "p0@m.mssante.fr"})] + ["PER|cassé"] * 10
    report = import_extraction(_write(tmp_path / "2.txt", damaged))
    assert (report.imported, report.bad_lines, report.pruned, report.removed) == (1, 10, False, 0)
    assert DirectoryEntry.objects.count() == 50


def test_a_file_cut_short_prunes_nothing(tmp_path: Path) -> None:
    import_extraction(_write(tmp_path / "1.txt", [_line(**{"Adresse BAL": f"p{i}@m.mssante.fr"}) for i in range(50)]))
    report = import_extraction(
        _write(tmp_path / "2.txt", [_line(**{"Adresse BAL": f"p{i}@m.mssante.fr"}) for i in range(20)])
    )
    assert (report.imported, report.bad_lines, report.pruned, report.removed) == (20, 0, False, 0)
    assert DirectoryEntry.objects.count() == 50


def test_generated_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ext.txt"
    generate_extraction(path, rows=5000, seed=3)
    report = import_extraction(path, batch_size=700)
    assert report.lines == 5000 and report.bad_lines == 0
    assert report.imported + report.duplicates == 5000
    assert DirectoryEntry.objects.count() == report.imported
    martin = DirectoryEntry.objects.get(address="claire.martin@demo.mssante.fr")
    assert (martin.national_id, martin.city, martin.specialty) == ("889970012345", "LYON", "Médecine Générale")
    assert DirectoryEntry.objects.filter(kind="ORG").count() > 400


def test_management_command(tmp_path: Path) -> None:
    path = tmp_path / "ext.txt"
    out = StringIO()
    call_command("sandbox", "annuaire-extraction", str(path), "--rows", "300", stdout=out)  # the sandbox's generator
    assert "300 lignes" in out.getvalue()
    out = StringIO()
    call_command("annuaire", "import", str(path), "--json", stdout=out)
    counts = json.loads(out.getvalue())
    assert counts["lignes"] == 300 and counts["importees"] + counts["doublons"] == 300
    out = StringIO()
    call_command("annuaire", "search", "mar", "--ville", "lyon", "--json", stdout=out)
    assert "claire.martin@demo.mssante.fr" in [e["address"] for e in json.loads(out.getvalue())]
    out = StringIO()
    call_command("annuaire", "search", "ber", "--ville", "69003", stdout=out)
    assert "DR BERNARD Hugo — Médecine Générale — 69003 LYON — hugo.bernard@demo.mssante.fr" in out.getvalue()
    with pytest.raises(CommandError, match="introuvable"):
        call_command("annuaire", "import", str(tmp_path / "absent.txt"))
