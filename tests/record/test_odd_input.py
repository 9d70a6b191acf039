"""Issue 13 §4 on the record's forms: each text field takes its column's length (the check and the HTML maxlength,
so they cannot drift), control characters are removed, an odd `next` target is not a server error."""

from __future__ import annotations

import pytest
from django import forms
from django.test import Client

from caducee.core.inputs import model_max_length
from caducee.record.edit_views import _form as edit_form
from caducee.record.models import Problem
from caducee.record.views import KINDS, _form

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.record.urls")]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_text_field_has_its_columns_length(kind: str, doctor, patient) -> None:  # type: ignore[no-untyped-def]
    model = KINDS[kind].model
    checked = 0
    for form in (_form(kind), _form(kind, {})):
        for name, field in form.fields.items():
            column = model_max_length(model, name)
            if isinstance(field, forms.CharField) and column:
                assert field.max_length == column, (kind, name)
                assert f'maxlength="{column}"' in str(form[name]), (kind, name)
                checked += 1
    assert checked or kind in ("constantes", "vigilance"), kind  # measures, and a point of vigilance (TextField)


def test_the_edit_form_has_the_columns_length_too(doctor, patient) -> None:  # type: ignore[no-untyped-def]
    problem = Problem.objects.create(patient=patient, label="Asthme", cim10_code="J45")
    form = edit_form("probleme", problem, {"label": "A" * 301, "status": "active"})
    assert not form.is_valid()
    assert "au plus 300 caractères (actuellement 301)" in form.errors["label"][0]


def test_control_characters_are_removed_from_an_added_entry(client: Client, doctor, patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    response = client.post(
        f"/dossier/{patient.pk}/probleme/ajouter/", {"label": "Asthme\x00 allergique\x01", "status": "active"}
    )
    assert response.status_code == 302
    assert Problem.objects.get().label == "Asthme allergique"


@pytest.mark.parametrize("target", ["٣٤", "-1", "patients:list", "//evil.example/", "Lyon\x00"])
def test_an_odd_next_target_sends_back_to_the_record(client: Client, doctor, patient, target: str) -> None:  # type: ignore[no-untyped-def]
    """Before issue 13: `next=٣٤` was reversed as a URL name (NoReverseMatch, a 500)."""
    problem = Problem.objects.create(patient=patient, label="Asthme", cim10_code="J45")
    client.force_login(doctor)
    response = client.post(f"/dossier/{patient.pk}/probleme/{problem.pk}/resoudre/", {"next": target})
    assert response.status_code == 302
    assert response.url == f"/dossier/{patient.pk}/#dossier-probleme"
