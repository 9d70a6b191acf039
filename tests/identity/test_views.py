"""Identity screens with bad input and bad services: clear message, nothing lost, nothing changed, audited."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.core.models import AuditEvent
from caducee.identity.models import Identity, InsiCall, Status
from caducee.patients.models import Patient

pytestmark = pytest.mark.django_db

FORM = {"birth_name": "Panne", "first_given_name": "Jean", "birth_date": "01/02/1980", "sex": "M", "birthplace_cog": ""}


def test_bad_input_gives_clear_messages_and_saves_nothing(client: Client, secretary, practice) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    response = client.post("/patients/nouveau/saisie/", {**FORM, "birth_date": "31/02/1980", "birthplace_cog": "7"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "date inexistante" in page and "code COG" in page and "rien n'a été enregistré" in page
    assert not Patient.objects.exists()
    assert 'value="PANNE"' in page or 'value="Panne"' in page  # what was typed is kept


def test_matricule_with_a_wrong_key_in_search_is_explained(client: Client, secretary) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    page = client.get("/?q=279035121518988").content.decode()
    assert "Clé de contrôle incorrecte" in page


def test_insi_down_leaves_the_identity_unchanged_with_a_message_and_an_audit_entry(
    client: Client, secretary, practice, insi_sandbox
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(secretary)
    client.post("/patients/nouveau/saisie/", FORM)
    identity = Identity.objects.get(birth_name="PANNE")
    response = client.post(f"/identite/{identity.pk}/insi/", follow=True)
    page = response.content.decode()
    assert "Erreur du téléservice" in page and "Réessayez plus tard" in page
    identity.refresh_from_db()
    assert identity.status == Status.PROV and identity.ins_matricule == "" and identity.version == 1
    call = InsiCall.objects.get(identity=identity)
    assert call.outcome == "fault" and call.response_xml  # R37: the full answer is traced
    assert AuditEvent.objects.filter(action="insi.traits", outcome="error").count() == 1


def test_sandbox_not_running_is_a_clear_unavailable_message(
    client: Client, secretary, make_patient, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX, settings.DATA_DIR = True, tmp_path
    patient = make_patient()
    client.force_login(secretary)
    page = client.post(f"/identite/{patient.identity.pk}/insi/", follow=True).content.decode()
    assert "Téléservice indisponible" in page
    assert InsiCall.objects.get().outcome == "unavailable"


def test_second_editor_is_told_to_reload(client: Client, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    identity = patient.identity
    client.force_login(secretary)
    form = {
        "birth_name": "ADRTROIS",
        "first_given_name": "DOMINIQUE",
        "birth_given_names": "DOMINIQUE",
        "birth_date": "26/02/1997",
        "sex": "F",
        "birthplace_cog": "2A020",
        "version": "1",
    }
    client.post(f"/identite/{identity.pk}/modifier/", {**form, "used_name": "UN"})
    page = client.post(f"/identite/{identity.pk}/modifier/", {**form, "used_name": "DEUX"}, follow=True)
    assert "modifiée par un autre utilisateur" in page.content.decode()
    identity.refresh_from_db()
    assert identity.used_name == "UN"


def test_chart_shows_r3_traits_and_the_pastille(client: Client, secretary, make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    client.force_login(secretary)
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    for text in ("ADRTROIS", "DOMINIQUE", "26/02/1997", "Féminin", "pastille-prov", "Identité provisoire"):
        assert text in page
