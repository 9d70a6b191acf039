"""Terminology import (ANS SKOS files of the CI-SIS kit, compact demo table) and search-as-you-type."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from caducee.record.models import Concept
from caducee.record.selectors import concept_search
from caducee.record.terminology import (
    DEMO_TABLE,
    OID_CCAM,
    OID_CIM10,
    OID_EDQM,
    OID_UCUM,
    TerminologyError,
    import_demo_terminology,
    import_terminology,
    iter_skos,
    label_key,
    read_demo_table,
)

pytestmark = pytest.mark.django_db

KIT = Path(settings.REFERENCE_DIR) / "cda/TestContenuCDA-3-0/schematrons/profils/terminologies/terminologie"


def codes(hits: list[Concept]) -> list[str]:
    return [c.code for c in hits]


def test_import_from_the_ans_files_is_idempotent(capsys) -> None:  # type: ignore[no-untyped-def]
    results = import_terminology(systems=["cim10", "ccam", "edqm", "ucum"], limit=400)
    by_name = {r.system: r for r in results}
    assert by_name["cim10"].path.name == "2.16.840.1.113883.6.3.rdf"
    # CCAM is stored under its current OID whichever file it came from (issue 3 trap).
    assert Concept.objects.filter(system=OID_CCAM).exists()
    assert not Concept.objects.filter(system=OID_CCAM).exclude(code__regex=r"^[A-Z]{4}[0-9]{3}$").exists()
    assert not Concept.objects.filter(system=OID_CIM10, code__contains="-").exists()  # blocks are not codes
    count = Concept.objects.count()
    call_command("import_terminology", "--systems", "cim10,ccam,edqm,ucum", "--limit", "400")
    assert Concept.objects.count() == count
    assert "cim10" in capsys.readouterr().out
    # UCUM comes from the kit's XML table, with its names.
    assert Concept.objects.filter(system=OID_UCUM, code="%").exists()


def test_labels_come_from_the_value_sets_and_search_ignores_accents() -> None:
    import_terminology(directory=KIT, systems=["edqm"])  # 1,288 codes; value sets found beside the kit dir
    route = Concept.objects.get(system=OID_EDQM, code="20066000")
    assert route.label == "Voie sous-cutanée" and route.label_key == "VOIE SOUS CUTANEE"
    assert codes(concept_search("route", "sous cut")) == ["20066000"]
    assert codes(concept_search("route", "SOUS-CUTANÉE")) == ["20066000"]
    assert "20053000" in codes(concept_search("edqm", "orale"))
    assert all(c.startswith("20") for c in codes(concept_search("route", "voie")))


def test_the_old_ccam_file_name_is_read_under_the_new_oid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    head = (KIT / "1.2.250.1.213.2.5.rdf").read_bytes()[:20000]
    (tmp_path / "1.2.250.1.213.2.5.rdf").write_bytes(
        head[: head.rindex(b"</rdf:Description>")] + b"</rdf:Description></rdf:RDF>"
    )
    [result] = import_terminology(directory=tmp_path, systems=["ccam"], value_set_dir=tmp_path)
    assert result.path.name == "1.2.250.1.213.2.5.rdf" and result.concepts > 0
    assert Concept.objects.filter(system=OID_CCAM).count() == result.concepts


def test_pref_labels_of_a_full_smt_export_are_read_and_french_wins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rdf = tmp_path / "2.16.840.1.113883.6.3.rdf"
    rdf.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:skos="http://www.w3.org/2004/02/skos/core#">
  <skos:Concept rdf:about="http://data.esante.gouv.fr/atih/cim10/J45">
    <skos:notation>J45</skos:notation>
    <skos:prefLabel xml:lang="en">Asthma</skos:prefLabel>
    <skos:prefLabel xml:lang="fr">Asthme</skos:prefLabel>
  </skos:Concept>
  <rdf:Description><skos:notation>J45.9</skos:notation></rdf:Description>
  <rdf:Description><skos:notation>J40-J47</skos:notation></rdf:Description>
</rdf:RDF>""",
        encoding="utf-8",
    )
    [result] = import_terminology(directory=tmp_path, systems=["cim10"], value_set_dir=tmp_path)
    assert result.concepts == 2
    # J45.9 has no prefLabel here: its label comes from the compact table shipped with Caducée.
    assert dict(Concept.objects.values_list("code", "label")) == {"J45": "Asthme", "J45.9": "Asthme, sans précision"}
    assert codes(concept_search("cim10", "asthm")) == ["J45", "J45.9"]
    assert codes(concept_search("cim10", "j45")) == ["J45", "J45.9"]


def test_a_re_import_without_label_keeps_the_known_label_and_withdrawn_codes_turn_inactive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    Concept.objects.create(system=OID_CIM10, code="J45", label="Asthme", label_key="ASTHME")
    Concept.objects.create(system=OID_CIM10, code="U99", label="Retiré", label_key="RETIRE")
    (tmp_path / "2.16.840.1.113883.6.3.rdf").write_text(
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:skos="http://www.w3.org/2004/02/skos/core#"><rdf:Description><skos:notation>J45</skos:notation>'
        "</rdf:Description></rdf:RDF>"
    )
    import_terminology(directory=tmp_path, systems=["cim10"], value_set_dir=tmp_path)
    assert Concept.objects.get(code="J45").label == "Asthme"
    assert Concept.objects.get(code="U99").active is False
    assert codes(concept_search("cim10", "retir")) == []


def test_hostile_xml_is_not_expanded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    rdf = tmp_path / "evil.rdf"
    rdf.write_text(
        f"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:skos="http://www.w3.org/2004/02/skos/core#">
<rdf:Description><skos:notation>A&x;</skos:notation><skos:prefLabel>&x;</skos:prefLabel></rdf:Description>
</rdf:RDF>"""
    )
    assert all("SECRET" not in code + label for code, label in iter_skos(rdf))


def test_unknown_system_missing_file_or_broken_file_are_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TerminologyError, match="inconnue"):
        import_terminology(systems=["loinc"])
    with pytest.raises(TerminologyError, match="aucun fichier"):
        import_terminology(directory=tmp_path, systems=["atc"], value_set_dir=tmp_path)
    (tmp_path / "2.16.840.1.113883.6.73.rdf").write_text("<rdf:RDF><oops")
    with pytest.raises(TerminologyError, match="illisible"):
        import_terminology(directory=tmp_path, systems=["atc"], value_set_dir=tmp_path)


def test_demo_table_loads_without_the_kit_and_says_where_it_comes_from() -> None:
    with gzip.open(DEMO_TABLE, "rt", encoding="utf-8") as handle:
        header = handle.readline() + handle.readline() + handle.readline()
    assert "build_demo_terminology.py" in header and "TestContenuCDA" in header and "BDPM" in header
    started = time.perf_counter()
    counts = import_demo_terminology()
    elapsed = time.perf_counter() - started
    assert counts[OID_CIM10] > 15000 and counts[OID_EDQM] >= 80
    assert sum(counts.values()) == Concept.objects.count() == sum(1 for _ in read_demo_table())
    assert import_demo_terminology() == counts  # idempotent
    assert Concept.objects.count() == sum(counts.values())
    assert elapsed < 10  # ~1 s on the reference machine; generous for slow CI disks
    # What the demo screens search for:
    assert codes(concept_search("cim10", "diabete type 2"))[0] == "E11"
    assert codes(concept_search("cim10", "E119")) == codes(concept_search("cim10", "E11.9"))[:20]
    assert "A10BA02" in codes(concept_search("atc", "metform"))
    assert concept_search("cis", "metformine 1000")[0].label.startswith("METFORMINE")
    assert codes(concept_search("route", "orale"))[0] == "20053000"
    started = time.perf_counter()
    for text in ("diab", "insuffisance card", "hyperten", "I50", "penicil", "asthme"):
        concept_search("cim10", text)
    assert (time.perf_counter() - started) / 6 < 0.5


def test_search_ignores_accents_case_and_punctuation(concepts) -> None:  # type: ignore[no-untyped-def]
    assert codes(concept_search("cim10", "diabète")) == ["E10", "E11", "E11.9"]
    assert codes(concept_search("cim10", "DIABETE SUCRE TYPE 2")) == ["E11", "E11.9"]
    assert codes(concept_search("cim10", "penicilline")) == ["Z88.0"]
    assert codes(concept_search("cim10", "insuf card")) == ["I50.9"]
    assert codes(concept_search("cim10", "cardiaque insuff")) == ["I50.9"]  # word order does not matter
    assert codes(concept_search("cim10", "e11")) == ["E11", "E11.9"]
    assert codes(concept_search("cim10", "K35")) == ["K35.8"]  # a code without label is found by code
    assert codes(concept_search("cim10", "sucre", limit=1)) == ["E10"]
    assert concept_search("cim10", "  - ") == []
    assert codes(concept_search("cis", "amox")) == ["69118175"]
    assert codes(concept_search("route", "voie")) == ["20053000", "20066000"]  # dose forms left out
    assert codes(concept_search("ucum", "mg")) == ["mg"]  # UCUM codes are case-sensitive
    assert codes(concept_search("ucum", "kilo")) == ["kg"]


def test_label_key_separates_words() -> None:
    assert label_key("Hépatite virale chronique B sans agent delta") == "HEPATITE VIRALE CHRONIQUE B SANS AGENT DELTA"
    assert label_key("Reflux gastro-œsophagien") == "REFLUX GASTRO OESOPHAGIEN"
