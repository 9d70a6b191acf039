"""Issue 13 §1: the birthplace searched by name (INSEE's COG), stored as its code (R1, R5: 99999 unknown; R6, R26)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from caducee.identity.cog import (
    BirthplaceError,
    Row,
    import_demo_places,
    place_label,
    places_import,
    places_search,
    resolve_birthplace,
    rows_from_insee,
)
from caducee.identity.models import CogPlace, Identity

pytestmark = pytest.mark.django_db

PLACES = [
    Row("69123", "COM", "Lyon", "69"),
    Row("69381", "ARM", "Lyon 1er Arrondissement", "69", "69123"),
    Row("27377", "COM", "Lyons-la-Forêt", "27"),
    Row("11339", "COM", "Saint-Denis", "11"),
    Row("93066", "COM", "Saint-Denis", "93"),
    Row("97411", "COM", "Saint-Denis", "974"),
    Row("42218", "COM", "Saint-Étienne", "42"),
    Row("74011", "COMD", "Annecy-le-Vieux", "74", "74010"),
    Row("74010", "COM", "Annecy", "74"),
    Row("99127", "PAYS", "Italie"),
]
FORM = {"birth_name": "Lieu", "first_given_name": "Jean", "birth_date": "01/02/1980", "sex": "M"}


@pytest.fixture
def places() -> None:
    places_import(rows=PLACES)


def test_import_is_idempotent() -> None:
    """Fails before issue 13 §1 (no import): the demo table loads, and loading it again adds nothing."""
    first = import_demo_places()
    again = import_demo_places()
    assert first["created"] > 35000 and again == {"created": 0, "updated": 0, "total": first["total"]}
    assert CogPlace.objects.filter(code="69123", kind="COM", name="Lyon").count() == 1
    assert CogPlace.objects.filter(code="99127", kind="PAYS").exists()  # a country (99xxx)
    assert CogPlace.objects.filter(kind="COMD", name="Annecy-le-Vieux").exists()  # a commune before its merger


def test_search_lyon_puts_the_commune_first(places) -> None:  # type: ignore[no-untyped-def]
    labels = [place_label(p) for p in places_search("lyon")]
    assert labels[0] == "Lyon (69) — 69123"
    assert "Lyon 1er Arrondissement (69) — 69381" in labels and "Lyons-la-Forêt (27) — 27377" in labels


def test_search_st_denis_and_accents(places) -> None:  # type: ignore[no-untyped-def]
    assert {p.code for p in places_search("st denis")} == {"11339", "93066", "97411"}
    assert [p.code for p in places_search("saint denis (974)")] == ["97411"]
    assert [p.code for p in places_search("SAINT ETIENNE")] == [p.code for p in places_search("Saint-Étienne")]


def test_resolve_names_codes_and_countries(places) -> None:  # type: ignore[no-untyped-def]
    # Lyon: the RNIPP (INSi, R6) records the arrondissement, written on the identity document; the commune's own
    # code only when chosen (or typed) explicitly.
    with pytest.raises(BirthplaceError, match="précisez l'arrondissement"):
        resolve_birthplace("Lyon")
    assert resolve_birthplace("Lyon 1er Arrondissement") == "69381"
    assert resolve_birthplace("lyon 1er") == "69381"  # a beginning that designates one place
    assert resolve_birthplace("Lyon (69) — 69123") == "69123"
    assert resolve_birthplace("italie") == "99127"
    assert resolve_birthplace("Italie (99127)") == "99127"
    assert resolve_birthplace("Lyon (69) — 69123") == "69123"
    assert resolve_birthplace("annecy le vieux") == "74011"  # historic commune, its own code
    assert resolve_birthplace("Saint-Denis (93)") == "93066"
    assert resolve_birthplace("2a020") == "2A020"  # a code is taken as typed
    assert resolve_birthplace("") == "99999"  # R5: unknown
    with pytest.raises(BirthplaceError, match="précisez le département"):
        resolve_birthplace("Saint-Denis")
    with pytest.raises(BirthplaceError, match="aucune commune"):
        resolve_birthplace("Lyonville")


def test_insee_files_are_read() -> None:
    communes = (
        "TYPECOM,COM,REG,DEP,CTCD,ARR,TNCC,NCC,NCCENR,LIBELLE,CAN,COMPARENT\n"
        "COM,69123,84,69,69D,691,0,LYON,Lyon,Lyon,6999,\n"
    )
    history = "COM,TNCC,NCC,NCCENR,LIBELLE,DATE_DEBUT,DATE_FIN\n01015,1,ARBIGNIEU,Arbignieu,Arbignieu,,2016-01-01\n"
    pays = "COG,ACTUAL,CRPAY,ANI,LIBCOG,LIBENR,CODEISO2,CODEISO3,CODENUM3\n99127,1,,,ITALIE,Italie,IT,ITA,380\n"
    rows = [
        *rows_from_insee("v_commune_2026.csv", communes),
        *rows_from_insee("v_commune_depuis_1943.csv", history),
        *rows_from_insee("v_pays_2026.csv", pays),
    ]
    places_import(rows=rows)
    places_import(rows=rows)  # idempotent
    assert CogPlace.objects.count() == 3
    assert resolve_birthplace("Arbignieu") == "01015" and resolve_birthplace("Italie") == "99127"


def test_import_cog_command_needs_demo_or_files() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--demo"):
        call_command("import_cog")


def test_the_creation_form_takes_a_name_and_stores_its_code(client: Client, secretary, practice, places) -> None:  # type: ignore[no-untyped-def]
    """Fails before issue 13 §1: « Lyon 1er » was refused (the form wanted the INSEE code);
    « Lyon » alone asks for the arrondissement (what INSi returns), keeping what was typed."""
    client.force_login(secretary)
    response = client.post("/patients/nouveau/saisie/", {**FORM, "birthplace_cog": "Lyon"})
    page = response.content.decode()
    assert response.status_code == 400 and "précisez l&#x27;arrondissement" in page and 'value="Lyon"' in page
    response = client.post("/patients/nouveau/saisie/", {**FORM, "birthplace_cog": "Lyon 1er"})
    assert response.status_code == 302
    assert Identity.objects.get(birth_name="LIEU").birthplace_cog == "69381"


def test_an_unknown_name_is_refused_in_french_and_kept(client: Client, secretary, practice, places) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    response = client.post("/patients/nouveau/saisie/", {**FORM, "birthplace_cog": "Lyonville"})
    page = response.content.decode()
    assert response.status_code == 400 and "aucune commune ni aucun pays" in page
    assert 'value="Lyonville"' in page and not Identity.objects.exists()


def test_the_search_endpoint_answers_the_front_desk(client: Client, secretary, places) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    data = client.get("/identite/lieux-de-naissance/", {"q": "st den"}).json()
    assert {"code": "93066", "label": "Saint-Denis (93) — 93066"} in data["places"]
    page = client.get("/patients/nouveau/saisie/").content.decode()
    assert 'data-birthplace-search="/identite/lieux-de-naissance/"' in page and "<script>" not in page


def test_the_edit_form_shows_the_stored_code_with_its_place(client: Client, secretary, practice, places) -> None:  # type: ignore[no-untyped-def]
    """Fails before issue 13 §1 (the bare code was shown); saving the form unchanged keeps the code."""
    client.force_login(secretary)
    client.post("/patients/nouveau/saisie/", {**FORM, "birthplace_cog": "Italie"})
    identity = Identity.objects.get(birth_name="LIEU")
    assert identity.birthplace_cog == "99127"
    page = client.get(f"/identite/{identity.pk}/modifier/").content.decode()
    assert 'value="Italie (99127)"' in page
    form = {**FORM, "birthplace_cog": "Italie (99127)", "version": identity.version, "used_name": "Autre"}
    assert client.post(f"/identite/{identity.pk}/modifier/", form).status_code == 302
    identity.refresh_from_db()
    assert identity.birthplace_cog == "99127" and identity.used_name == "AUTRE"
