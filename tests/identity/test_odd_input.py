"""Issue 13 §4 on the identity screens: the database's lengths (checked and in `maxlength`), control characters
removed, a stale or odd version answered in French — never a 500, and the form comes back with what was typed."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from caducee.identity.models import Identity, VigilanceCase
from caducee.identity.traits import TraitsError, clean_traits
from caducee.patients.models import Patient

pytestmark = pytest.mark.django_db

FORM = {"birth_name": "Long", "first_given_name": "Jean", "birth_date": "01/02/1980", "sex": "M", "birthplace_cog": ""}


def test_a_name_longer_than_its_column_is_refused_in_french() -> None:
    """Before issue 13: a 101-letter birth name was a 500 on PostgreSQL and 100,000 letters were stored on SQLite."""
    with pytest.raises(TraitsError) as refused:
        clean_traits({**FORM, "birth_name": "A" * 101, "birth_given_names": "JEAN " * 41})
    assert refused.value.errors["birth_name"].startswith("100 caractères au maximum (vous en avez saisi 101)")
    assert refused.value.errors["birth_given_names"].startswith("200 caractères au maximum")
    assert clean_traits({**FORM, "birth_name": "A" * 100}).birth_name == "A" * 100


def test_the_creation_form_refuses_a_long_name_and_gives_back_what_was_typed(
    client: Client, secretary, practice
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    typed = "Abcdefghij" * 10_000  # 100,000 letters
    response = client.post("/patients/nouveau/saisie/", {**FORM, "birth_name": typed})
    assert response.status_code == 400
    page = response.content.decode()
    assert "100 caractères au maximum (vous en avez saisi 100000)" in page
    assert f'value="{typed}"' in page  # nothing lost: the whole text comes back, to be shortened
    assert not Patient.objects.exists()


def test_the_identity_forms_carry_the_columns_maxlength(client: Client, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    pages = [
        client.get("/patients/nouveau/saisie/").content.decode(),
        client.get(f"/identite/{make_patient().identity.pk}/modifier/").content.decode(),
    ]
    for page in pages:
        assert 'name="birth_name" value="' in page
        for name, length in (("birth_name", 100), ("birth_given_names", 200), ("used_name", 100)):
            assert f'name="{name}"' in page and f'maxlength="{length}"' in page.split(f'name="{name}"')[1].split(">")[0]


def test_control_characters_in_a_name_are_removed(client: Client, secretary, practice) -> None:  # type: ignore[no-untyped-def]
    """NUL and the other control characters, invisible, are removed rather than refused (core.text.clean_text)."""
    client.force_login(secretary)
    response = client.post("/patients/nouveau/saisie/", {**FORM, "birth_name": "Du\x00pont\x01", "used_name": "A\x1bB"})
    assert response.status_code == 302
    identity = Identity.objects.get()
    assert (identity.birth_name, identity.used_name) == ("DUPONT", "AB")


@pytest.mark.parametrize("version", ["stale", "٣", "9" * 25, "-1", ""])
def test_identity_attributes_with_a_stale_or_odd_version_are_not_a_server_error(
    client: Client, secretary, make_patient, version: str
) -> None:
    """Before issue 13: `POST /identite/<id>/attributs/` submitted twice (or with "٣", a 25-digit version) was a 500."""
    identity = make_patient().identity
    client.force_login(secretary)
    if version == "stale":
        assert client.post(f"/identite/{identity.pk}/attributs/", {"version": 1, "doubtful": "1"}).status_code == 302
        version = "1"  # the same form, sent a second time
    response = client.post(f"/identite/{identity.pk}/attributs/", {"version": version, "fictitious": "1"})
    assert response.status_code in (302, 404), response.status_code
    if response.status_code == 302:
        shown = [str(m) for m in get_messages(response.wsgi_request)]
        assert any("modifiée par un autre utilisateur" in message for message in shown), shown
    identity.refresh_from_db()
    assert not identity.is_fictitious


def test_a_too_long_vigilance_resolution_is_refused_and_kept(client: Client, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    """Before issue 13 it was cut at 300 characters without a word."""
    case = VigilanceCase.objects.create(kind=VigilanceCase.Kind.HOMONYM, identity=make_patient().identity)
    client.force_login(secretary)
    typed = "Vérifié avec la patiente au guichet. " * 10
    response = client.post(f"/identite/vigilance/{case.pk}/clore/", {"resolution": typed})
    assert response.status_code == 400
    page = response.content.decode()
    assert "300 caractères au maximum" in page and f'value="{typed}"' in page
    case.refresh_from_db()
    assert case.resolved_at is None
    assert 'maxlength="300"' in client.get("/identite/vigilance/").content.decode()
    response = client.post(f"/identite/vigilance/{case.pk}/clore/", {"resolution": typed[:300]})
    assert response.status_code == 302
