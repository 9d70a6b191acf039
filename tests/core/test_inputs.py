"""Issue 13 §4: one rule for the characters nobody types (`core.text.clean_text`), applied to every parameter by
`core.inputs.InputCleaningMiddleware`; lengths from the models; ids in ASCII digits within the database's range."""

from __future__ import annotations

import pytest
from django import forms
from django.http import Http404, HttpResponse
from django.template import Context, Template
from django.test import RequestFactory

from caducee.core.inputs import (
    MAX_ID,
    InputCleaningMiddleware,
    id_or_404,
    limit_form_to_model,
    local_path,
    max_lengths,
    model_max_length,
    parse_id,
    too_long,
)
from caducee.core.text import clean_text
from caducee.identity.models import Identity
from caducee.patients.models import Patient


def test_clean_text_removes_control_characters_and_keeps_the_visible_text() -> None:
    """NUL, the other C0 controls, DEL, C1, U+FFFE/U+FFFF and lone surrogates go; accents, ligatures, the typographic
    spaces and symbols of French text stay as typed."""
    typed = "Lyon\x00 \x01(3e)\x1b\x7f\x9f é œ «\u202f»\ufffe\ud800 €"
    assert clean_text(typed) == "Lyon (3e) é œ «\u202f» €"
    assert clean_text("Déjà propre, rien à changer") == "Déjà propre, rien à changer"


def test_clean_text_keeps_line_breaks_in_a_multiline_text_only() -> None:
    """A textarea keeps tabs and line breaks; Word's soft line break (VT), a PDF's form feed and NEL become line
    breaks there. A one-line field turns them into spaces."""
    pasted = "Ligne 1\r\nLigne 2\x0bLigne 3\x0cLigne 4\x85Ligne 5\tfin"
    assert clean_text(pasted, multiline=True) == "Ligne 1\r\nLigne 2\nLigne 3\nLigne 4\nLigne 5\tfin"
    assert clean_text(pasted) == "Ligne 1  Ligne 2 Ligne 3 Ligne 4 Ligne 5 fin"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("42", 42),
        (" 42 ", 42),
        (42, 42),
        ("0", 0),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),  # beyond BIGINT: OverflowError on SQLite, "out of range" on PostgreSQL
        ("9" * 25, None),
        ("٣٤", None),  # Arabic-Indic digits: str.isdigit() and int() accept them
        ("²", None),  # superscript two: isdigit() is True, int() raises
        ("-1", None),
        ("+1", None),
        ("1e3", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_id_reads_ascii_digits_in_the_database_range(typed: object, expected: int | None) -> None:
    assert parse_id(typed) == expected


def test_id_or_404_says_why_in_french() -> None:
    with pytest.raises(Http404, match="Patient non précisé"):
        id_or_404("٣", "Patient non précisé.")
    assert id_or_404("7") == 7


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/patients/1/", "/patients/1/"),
        ("/dossier/1/?a=1#x", "/dossier/1/?a=1#x"),
        ("٣٤", ""),  # was reversed as a URL name: NoReverseMatch, a 500
        ("-1", ""),
        ("patients:list", ""),
        ("//evil.example/", ""),
        ("/\\evil.example/", ""),
        ("https://evil.example/", ""),
        ("", ""),
    ],
)
def test_local_path_only_accepts_a_path_of_this_site(target: str, expected: str) -> None:
    assert local_path(RequestFactory().get("/"), target) == expected


def test_lengths_come_from_the_models() -> None:
    assert model_max_length(Identity, "birth_name") == 100
    assert model_max_length("patients.Patient", "city") == 100
    assert model_max_length(Identity, "nothing") is None
    lengths = max_lengths(Identity, Patient)
    assert lengths["birth_name"] == 100 and lengths["city"] == 100
    assert "sex" not in lengths  # a choice, not typed
    assert too_long("A" * 100, 100) is None
    assert too_long("A" * 101, 100) == "100 caractères au maximum (vous en avez saisi 101) : raccourcissez le texte."


class _CityForm(forms.Form):
    city = forms.CharField(max_length=500)  # drifted from the column
    note = forms.CharField(max_length=30)  # no column of that name: kept


def test_a_form_takes_the_column_length_for_its_check_and_its_maxlength() -> None:
    form = _CityForm({"city": "A" * 101, "note": "ok"})
    limit_form_to_model(form, Patient)
    assert not form.is_valid()
    assert "au plus 100 caractères" in form.errors["city"][0]  # Django's French message
    assert 'maxlength="100"' in str(form["city"]) and 'maxlength="30"' in str(form["note"])


def test_the_maxlength_tag_reads_the_column_or_the_views_lengths() -> None:
    template = Template(
        '{% load inputs %}<input{% maxlength "birth_name" "identity.Identity" %}>'
        '<input{% maxlength "city" %}><input{% maxlength "x" %}>'
    )
    rendered = template.render(Context({"maxlengths": {"city": 100}}))
    assert rendered == '<input maxlength="100"><input maxlength="100"><input>'


def _through_middleware(request):  # type: ignore[no-untyped-def]
    middleware = InputCleaningMiddleware(lambda r: HttpResponse())
    middleware.process_view(request, None, (), {})
    return request


def test_the_middleware_cleans_every_query_and_form_parameter() -> None:
    """Issue 13 §4: a NUL in an address, an observation, a message body or a document search was a 500 on PostgreSQL
    (and stored on SQLite): no view receives a control character any more, whatever the screen."""
    factory = RequestFactory()
    request = _through_middleware(factory.get("/documents/patient/1/", {"texte": "comp\x00te rendu", "du": "2026"}))
    assert request.GET["texte"] == "compte rendu" and request.GET["du"] == "2026"
    request = _through_middleware(
        factory.post(
            "/consultations/1/enregistrer/",
            {
                "observation": "Toux\x00 sèche\r\ndepuis\x0b3 jours\x01",
                "mss_to": ["a@x.fr", "b\x00@x.fr"],
                "n\x00om": "x",
            },
        )
    )
    assert request.POST["observation"] == "Toux sèche\r\ndepuis\n3 jours"
    assert request.POST.getlist("mss_to") == ["a@x.fr", "b@x.fr"]
    assert request.POST["nom"] == "x"
    assert not request.POST._mutable


def test_the_middleware_leaves_clean_parameters_as_they_are() -> None:
    request = RequestFactory().post("/x/", {"corps": "Bonjour,\r\n\tmerci."})
    post = request.POST
    assert _through_middleware(request).POST is post


@pytest.mark.django_db
def test_a_form_with_control_characters_says_they_were_removed(client, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 §4: « refused or removed with a French message » — the NUL of a paste is removed, the visible text
    kept, and the page that follows says so."""
    from caducee.record.consultations import consultation_open
    from caducee.record.models import Consultation

    consultation = consultation_open(actor=doctor, patient=make_patient())
    client.force_login(doctor)
    response = client.post(
        f"/consultations/{consultation.pk}/enregistrer/",
        {"version": consultation.version, "action": "save", "observation": "Toux\x00 sèche"},
        follow=True,
    )
    assert "caractères invisibles" in response.content.decode()
    assert Consultation.objects.get(pk=consultation.pk).observation == "Toux sèche"
