"""Offline search of the MSSanté directory: three letters of the name plus a city or a specialty (issue 5 §5)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caducee.mss.annuaire.records import DirectoryRecord, name_key, specialty_query_key, successor
from caducee.mss.annuaire.search import directory_query, directory_search, forget_directory_cache
from caducee.mss.models import DirectoryEntry

pytestmark = pytest.mark.django_db

PEOPLE = [
    # family, given, specialty, profession, city, postal code, address
    ("MARTIN", "Claire", "Médecine Générale", "Médecin", "LYON", "69003", "claire.martin@demo.mssante.fr"),
    ("MARTINEZ", "Luis", "Cardiologie et maladies vasculaires", "Médecin", "LYON", "69007", "l.martinez@m.mssante.fr"),
    ("MARTIN", "Paul", "", "Masseur-Kinésithérapeute", "PARIS", "75011", "p.martin@k.mssante.fr"),
    ("MARCHAND", "Zoé", "Pédiatrie", "Médecin", "SAINT-ÉTIENNE", "42000", "z.marchand@m.mssante.fr"),
    ("LE GALL", "Anne", "Psychiatrie", "Médecin", "BREST", "29200", "a.legall@m.mssante.fr"),
    ("D'ALMEIDA", "José", "", "Infirmier", "LYON CEDEX 03", "69003", "j.dalmeida@i.mssante.fr"),
    ("ÉLOI", "Marc", "Médecine Générale", "Médecin", "SAINT-DENIS", "97400", "m.eloi@m.mssante.fr"),
    ("ZZYZX", "Ann", "", "Sage-Femme", "NICE", "06000", "a.zzyzx@s.mssante.fr"),
    ("", "", "", "", "LYON", "69003", "secretariat@ch-lyon.mssante.fr"),
]


@pytest.fixture(autouse=True)
def directory() -> None:
    forget_directory_cache()
    entries = []
    for family, given, specialty, profession, city, cp, address in PEOPLE:
        record = DirectoryRecord(
            address=address,
            kind="PER" if family else "ORG",
            family_name=family,
            given_name=given,
            specialty=specialty,
            profession=profession,
            organisation="" if family else "CENTRE HOSPITALIER DE LYON",
            city=city,
            postal_code=cp,
        )
        entries.append(DirectoryEntry(**record.model_values()))
    DirectoryEntry.objects.bulk_create(entries)
    yield
    forget_directory_cache()


def _addresses(*args: str, **kwargs: str) -> list[str]:
    return [e.address for e in directory_search(*args, **kwargs)]


def test_three_letters_of_the_name_ordered_by_name() -> None:
    assert _addresses("mar") == [
        "z.marchand@m.mssante.fr",
        "claire.martin@demo.mssante.fr",
        "p.martin@k.mssante.fr",
        "l.martinez@m.mssante.fr",
    ]
    assert _addresses("martin claire") == ["claire.martin@demo.mssante.fr"]


def test_accents_case_spaces_hyphens_apostrophes_ignored() -> None:
    assert _addresses("le gall") == _addresses("LE-GALL") == _addresses("legall") == ["a.legall@m.mssante.fr"]
    assert _addresses("dalm") == _addresses("d'Alm") == ["j.dalmeida@i.mssante.fr"]
    assert _addresses("eloi") == _addresses("Éloï") == ["m.eloi@m.mssante.fr"]


def test_plus_city() -> None:
    assert _addresses("mar", city="Lyon") == ["claire.martin@demo.mssante.fr", "l.martinez@m.mssante.fr"]
    assert _addresses("mar", city="paris") == ["p.martin@k.mssante.fr"]
    assert _addresses("mar", city="saint etienne") == ["z.marchand@m.mssante.fr"]
    assert _addresses("mar", city="saint-ét") == ["z.marchand@m.mssante.fr"]  # a city prefix
    assert _addresses("dal", city="lyon") == ["j.dalmeida@i.mssante.fr"]  # LYON CEDEX 03 is Lyon
    assert _addresses("mar", city="marseille") == []


def test_plus_postal_code() -> None:
    assert _addresses("mar", city="69003") == ["claire.martin@demo.mssante.fr"]
    assert _addresses("mar", city="69") == ["claire.martin@demo.mssante.fr", "l.martinez@m.mssante.fr"]


def test_plus_specialty_or_profession() -> None:
    assert _addresses("mar", specialty="cardiologue") == ["l.martinez@m.mssante.fr"]
    assert _addresses("mar", specialty="Cardio") == ["l.martinez@m.mssante.fr"]
    assert _addresses("mar", specialty="généraliste") == ["claire.martin@demo.mssante.fr"]
    assert _addresses("mar", specialty="kiné") == ["p.martin@k.mssante.fr"]
    assert _addresses("mar", specialty="pédiatre") == ["z.marchand@m.mssante.fr"]
    assert _addresses("mar", specialty="médecin") == [
        "z.marchand@m.mssante.fr",
        "claire.martin@demo.mssante.fr",
        "l.martinez@m.mssante.fr",
    ]
    assert _addresses("mar", specialty="dermatologie") == []
    assert _addresses("mar", city="lyon", specialty="généraliste") == ["claire.martin@demo.mssante.fr"]


def test_structures_by_their_name() -> None:
    assert _addresses("centre hosp", city="lyon") == ["secretariat@ch-lyon.mssante.fr"]


def test_short_or_empty_queries() -> None:
    assert _addresses("ma") == []  # two letters alone: too broad
    assert _addresses("le", city="brest") == ["a.legall@m.mssante.fr"]  # two letters plus a city
    assert _addresses("") == [] and _addresses("  -' ") == []
    assert _addresses("%%%") == [] and _addresses("mar%") == _addresses("mar")  # no LIKE wildcards


def test_limit() -> None:
    assert len(directory_search("mar", limit=2)) == 2
    assert len(directory_search("mar", limit=0)) == 1
    assert _addresses("mar", limit=2) == _addresses("mar")[:2]


def test_last_letters_of_the_alphabet() -> None:
    assert successor("ZZY") == "ZZZ" and successor("MAZ") == "MB" and successor("ZZZ") is None
    assert successor("A9") == "AA" and successor("19") == "1A"
    assert _addresses("zzy") == ["a.zzyzx@s.mssante.fr"]
    assert _addresses("zzz") == []


def test_name_is_an_index_range_not_a_like() -> None:
    sql = str(directory_query("mar", city="lyon").query)  # type: ignore[union-attr]
    assert '"search_name" >= MAR' in sql and '"search_name" < MAS' in sql
    assert "LIKE" not in sql.upper()
    with CaptureQueriesContext(connection) as queries:
        directory_search("mar", city="lyon", specialty="cardio")
    assert len(queries) <= 3  # city check, specialty values (cached), the search


def test_keys() -> None:
    assert name_key("Le Gall", "Anne-Marie", "") == "LEGALLANNEMARIE"
    assert specialty_query_key("Cardiologue") == "CARDIOLOG"
    assert specialty_query_key("pneumologie") == "PNEUMOLOG"
    assert specialty_query_key("psychiatre") == "PSYCHIATRI"
    values = DirectoryRecord(address="A.B@X.MSSANTE.FR", city="Paris Cedex 15").model_values()
    assert values["address"] == "a.b@x.mssante.fr" and values["search_city"] == "PARIS"
