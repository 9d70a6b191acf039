"""Issue 13 §4 on the consultation: a motif longer than its column, a diagnosis too long, an odd version — refused in
French, the page comes back with everything typed, nothing saved, never a 500 (PostgreSQL) nor a silent store."""

from __future__ import annotations

import html

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from caducee.record.consultations import consultation_open
from caducee.record.models import Consultation, Problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def consultation(make_patient, doctor) -> Consultation:  # type: ignore[no-untyped-def]
    return consultation_open(actor=doctor, patient=make_patient())


def _submit(client: Client, consultation: Consultation, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {"version": consultation.version, "action": "save", **fields},
    )


def test_a_301_character_motif_is_refused_and_everything_typed_comes_back(
    client: Client, doctor, consultation: Consultation
) -> None:
    """Before issue 13: a 500 on PostgreSQL (value too long) with the typing lost; stored whole on SQLite."""
    client.force_login(doctor)
    motif = "Toux fébrile " * 23 + "et asthénie"  # 310 characters
    observation = "Patient vu avec sa fille.\r\nDouleur depuis 3 jours."
    response = _submit(client, consultation, motif=motif, observation=observation, conclusion="À revoir")
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "Motif : 300 caractères au maximum (vous en avez saisi 310)" in page
    assert f'value="{motif}"' in page and observation in page and "À revoir" in page
    consultation.refresh_from_db()
    assert (consultation.motif, consultation.observation, consultation.version) == ("", "", 1)


def test_the_motif_and_the_diagnosis_carry_their_columns_maxlength(client: Client, doctor, consultation) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert 'name="motif" value=""' in page
    for name, length in (("motif", 300), ("diagnostic", 300), ("diagnostic_code", 10)):
        assert f'maxlength="{length}"' in page.split(f'name="{name}"')[1].split(">")[0], name


def test_a_too_long_diagnosis_is_refused_before_validation(client: Client, doctor, consultation) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = _submit(client, consultation, action="validate", motif="Toux", diagnostic="B" * 301)
    assert response.status_code == 400
    assert "Diagnostic : 300 caractères au maximum" in html.unescape(response.content.decode())
    consultation.refresh_from_db()
    assert consultation.state == Consultation.State.OPEN and not Problem.objects.exists()


@pytest.mark.parametrize("version", ["", "abc", "٣", "9" * 25])
def test_an_odd_version_is_explained_in_french(client: Client, doctor, consultation, version: str) -> None:  # type: ignore[no-untyped-def]
    """Before issue 13 the doctor read « invalid literal for int() with base 10: 'abc' »."""
    client.force_login(doctor)
    response = _submit(client, consultation, version=version, motif="Toux")
    assert response.status_code == 400
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["Formulaire incomplet (version illisible) : rechargez la page de la consultation."]
    assert 'value="Toux"' in response.content.decode()


def test_a_nul_in_the_observation_is_removed(client: Client, doctor, consultation) -> None:  # type: ignore[no-untyped-def]
    """Before issue 13: a 500 on PostgreSQL (NUL refused by text columns), the NUL stored on SQLite."""
    client.force_login(doctor)
    assert _submit(client, consultation, observation="Toux\x00 sèche\x01").status_code == 302
    consultation.refresh_from_db()
    assert consultation.observation == "Toux sèche"
