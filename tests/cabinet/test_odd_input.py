"""Issue 13 §4: bad input gets a clear error and loses nothing — every form and query parameter, with odd values.

The crawl starts from the URL table of the role matrix (`tests/accounts/matrix.py`: every URL name of the
application, with one object of each kind): it opens each screen as a médecin, a secrétaire and an administrateur,
reads the forms of the page (POST and GET, with their fields and values) and the query strings of its links, adds
the matrix's own POST data for the actions without a screen, and sends each field in turn with odd values — too
long, NUL and other control characters, non-ASCII digits, huge and negative ids, a stale version, nothing — and each
form twice as it came (a double submission). No answer may be a server error. Each request runs in a rolled-back
transaction, so every one starts from the same world.

Runs on SQLite by default; on PostgreSQL with
`DATABASE_URL=postgres://…/caducee_oddinput .venv/bin/pytest -q -p no:cacheprovider tests/cabinet/test_odd_input.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import lxml.html
import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from caducee.accounts.models import User
from caducee.mss.models import Mailbox
from tests.accounts.matrix import MATRIX, World, world
from tests.dmp.fake_dmp import INS_CX, MATCHING_IDENTITY, FakeDmp, install_fake_dmp

pytestmark = pytest.mark.django_db

ODD_VALUES = {
    "too long": "A" * 5000,
    "NUL": "Lyon\x00 nuit",
    "controls": "a\x01\x08\x0b\x1b\x7f\x85\x9fb",
    "Arabic-Indic digits": "٣٤",
    "superscript digit": "²",
    "huge id": "9" * 25,
    "negative": "-1",
    "not a number": "NaN",
    "empty": "",
}
# Names whose value is never typed but a form's plumbing: sent odd too (a forged request), but the CSRF token is not.
SKIPPED_FIELDS = {"csrfmiddlewaretoken"}
# Ends the crawl's own session, or leaves the application.
SKIPPED_ACTIONS = ("/deconnexion/", "/psc/")


@pytest.fixture
def the_world(
    practice: Any, doctor: User, make_patient: Any, settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> World:
    """The role matrix's world (one object of each kind the URLs name), its DMP answering in memory."""
    settings.SANDBOX = True  # the test INS of a QUAL identity is allowed (R28): nothing leaves the machine
    settings.DATA_DIR = tmp_path
    fake = install_fake_dmp(monkeypatch, FakeDmp())
    fake.add_patient(INS_CX, identity=MATCHING_IDENTITY)
    w = world(practice=practice, doctor=doctor, make_patient=make_patient)
    fake.seed_document(INS_CX, unique_id=w.dmp_entry.unique_id, title=w.dmp_entry.title, content=bytes(w.document.cda))
    return w


@dataclass(frozen=True)
class Form:
    method: str
    action: str
    fields: tuple[tuple[str, str], ...]  # (name, value) as the page sends them, in order; a name may repeat

    def data(self, name: str | None = None, value: str = "") -> dict[str, list[str]]:
        data: dict[str, list[str]] = {}
        for field_name, field_value in self.fields:
            data.setdefault(field_name, []).append(value if field_name == name else field_value)
        return data


def _forms(page_url: str, html: str) -> list[Form]:
    """The page's forms (POST and GET) and the query strings of its links, as forms."""
    document = lxml.html.document_fromstring(html)
    found = []
    for form in document.forms:
        method = (form.method or "GET").upper()
        action = form.get("action") or page_url
        fields: list[tuple[str, str]] = []
        for element in form.inputs:
            name = element.get("name")
            if not name:
                continue
            kind = (element.get("type") or "").lower()
            if element.tag == "select":
                options = element.xpath(".//option/@value")
                fields.append((name, element.value or (options[0] if options else "")))
            elif element.tag == "textarea":
                fields.append((name, element.text or ""))
            elif kind in ("checkbox", "radio"):
                fields.append((name, element.get("value") or "on"))
            else:  # submit buttons included: the view may read which one was pressed
                fields.append((name, element.get("value") or ""))
        found.append(Form(method, urlsplit(action).path or page_url, tuple(fields)))
    for href in document.xpath("//a/@href"):
        parts = urlsplit(href)
        if parts.query and not parts.netloc and parts.path.startswith("/"):
            found.append(Form("GET", parts.path, tuple(parse_qsl(parts.query, keep_blank_values=True))))
    return found


def _matrix_forms(w: World) -> tuple[list[str], list[Form]]:
    """Every screen of the matrix, and its actions as forms with the matrix's own data."""
    pages, forms = [], []
    for name, entry in MATRIX.items():
        path = reverse(name, kwargs=entry.kwargs(w))
        if entry.get is not None:
            pages.append(path + entry.query(w))
        if entry.query(w):
            forms.append(Form("GET", path, tuple(parse_qsl(entry.query(w)[1:], keep_blank_values=True))))
        if entry.post is not None:
            data = entry.data(w)
            fields = [
                (k, str(v)) for k, values in data.items() for v in (values if isinstance(values, list) else [values])
            ]
            forms.append(Form("POST", path, tuple(fields)))
    return pages, forms


def _send(client: Client, form: Form, data: dict[str, list[str]], *, twice: bool = False) -> list[Any]:
    """The request(s), rolled back: each starts from the same world."""
    with transaction.atomic():
        send = client.post if form.method == "POST" else client.get
        responses = [send(form.action, data)]
        if twice:
            responses.append(send(form.action, data))
        transaction.set_rollback(True)
    return responses


def _crawl(client: Client, user: User, w: World) -> tuple[int, list[str]]:
    client.raise_request_exception = False
    client.force_login(user)
    pages, forms = _matrix_forms(w)
    for page in pages:
        with transaction.atomic():
            response = client.get(page)
            transaction.set_rollback(True)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            forms += _forms(page, response.content.decode())
    # One form per action and set of fields (the chart and the record page show the same add forms).
    unique = {
        (f.method, f.action, frozenset(dict(f.fields))): f for f in forms if not f.action.startswith(SKIPPED_ACTIONS)
    }
    errors, sent = [], 0
    for form in unique.values():
        client.force_login(user)  # a form may have changed the password or ended the session: rolled back, not the
        # client's cookie
        for response in _send(client, form, form.data(), twice=True):
            sent += 1
            if response.status_code >= 500:
                errors.append(f"{form.method} {form.action} as sent twice: {response.status_code} {_cause(response)}")
        for name in dict(form.fields).keys() - SKIPPED_FIELDS:
            for label, value in ODD_VALUES.items():
                (response,) = _send(client, form, form.data(name, value))
                sent += 1
                if response.status_code >= 500:
                    errors.append(
                        f"{form.method} {form.action} {name}={label}: {response.status_code} {_cause(response)}"
                    )
    return sent, errors


def _cause(response: Any) -> str:
    exc_info = getattr(response, "exc_info", None)
    return f"{exc_info[0].__name__}: {str(exc_info[1])[:160]}" if exc_info else ""


@pytest.mark.parametrize("who", ["doctor", "secretary", "administrator"])
def test_no_form_answers_a_server_error_to_odd_values(
    client: Client, the_world: World, who: str, request: pytest.FixtureRequest
) -> None:
    """Issue 13 §4: a crawl of every form with odd values as a médecin, a secrétaire and an administrateur: no 500.
    Fails before issue 13 (identity attributes with a stale version, « Envoyer » with a huge document id, the audit
    filter with Arabic-Indic digits, a 301-character motif on PostgreSQL…)."""
    user = request.getfixturevalue(who)
    sent, errors = _crawl(client, user, the_world)
    assert sent > 100, sent  # the crawl found the forms
    assert not errors, "\n".join(errors)


# --- The server errors reported by issue 13 §4, one by one -----------------------------------------------------------


def test_envoyer_with_a_huge_document_id_is_not_a_server_error(client: Client, the_world: World, doctor: User) -> None:
    """Before issue 13: OverflowError (SQLite) / integer out of range (PostgreSQL) on « Envoyer »."""
    client.force_login(doctor)
    for document in ("9" * 25, "²", "٣"):
        response = client.get("/messagerie/envoyer/", {"patient": the_world.patient.pk, "document": document})
        assert response.status_code == 200, document
    assert client.get("/messagerie/envoyer/", {"patient": "²"}).status_code == 404


@pytest.mark.parametrize("typed", ["٣٤", "²", "9" * 25, "12a"])
def test_the_audit_filter_explains_an_odd_patient_number(client: Client, administrator: User, typed: str) -> None:
    """Before issue 13: `/audit/?patient=٣٤` (Arabic-Indic digits) was a 500 (NoReverseMatch), "²" too (int())."""
    client.force_login(administrator)
    response = client.get("/audit/", {"patient": typed})
    assert response.status_code == 400
    page = response.content.decode()
    assert "N° de dossier patient invalide : des chiffres (0 à 9) uniquement." in page
    assert "Aucun événement." in page and "Qui a consulté ce dossier" not in page
    assert client.get("/audit/export.log", {"patient": typed}).status_code == 400
    assert client.get("/audit/", {"patient": "12"}).status_code == 200


def test_a_mailbox_name_longer_than_its_column_is_refused_and_kept(client: Client, administrator: User) -> None:
    """Before issue 13: a 201-character « Nom affiché » was a 500 on PostgreSQL, stored whole on SQLite."""
    client.force_login(administrator)
    typed = "Cabinet médical des Lilas " * 8
    response = client.post(
        "/messagerie/boites/", {"adresse": "accueil@test.mssante.fr", "type": "ORG", "nom": typed, "active": "1"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nom affiché : 200 caractères au maximum" in page
    assert f'value="{typed}"' in page and 'value="accueil@test.mssante.fr"' in page
    assert 'maxlength="200"' in page and 'maxlength="254"' in page
    assert not Mailbox.objects.exists()
