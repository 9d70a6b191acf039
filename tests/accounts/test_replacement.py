"""Replacement (remplacement, issue 6): the replaced doctor opens a replacement for a remplaçant, who works under
their own identity in the replaced doctor's context — documents signed « Dr <remplaçant>, remplaçant le Dr
<remplacé> » (PDF author line, letters' {{medecin.nom}}, CDA participant CON/CORRE as in the ANS eP-MED-DM 2024.01
example) — and closes it on return. Opening, closing and refusals are traced (SC.SSI/IAM: actions on accounts and
habilitations audited)."""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, connections, transaction
from django.test import Client

from caducee.accounts import replacement as replacement_module
from caducee.accounts.models import Practice, Replacement, Role, User
from caducee.accounts.replacement import (
    ReplacementError,
    open_replacement_for,
    replacement_candidates,
    replacement_close,
    replacement_open,
    replacements_given,
    signature_name,
)
from caducee.core.models import AuditEvent
from caducee.documents.letters.services import letter_create, letter_draft, letters_seed_defaults
from caducee.documents.models import LetterTemplate
from caducee.documents.production import vsm_create
from tests.conftest import PASSWORD
from tests.documents.cda_records import assert_conformant_volet, parse, xp
from tests.documents.test_pdf import pdf_text

pytestmark = pytest.mark.django_db

MENTION = "Dr Paul REMPLACANT, remplaçant le Dr Jean MEDECIN"
REPLACED_PARTICIPANT = "/h:ClinicalDocument/h:participant[@typeCode='CON'][h:functionCode/@code='CORRE']"


@pytest.fixture
def replaced(doctor: User) -> User:
    doctor.first_name, doctor.specialty_code = "Jean", "SM54"
    doctor.save()
    return doctor


@pytest.fixture
def remplacant(db: None) -> User:
    return User.objects.create_user(
        username="remplacant",
        password=PASSWORD,
        role=Role.REMPLACANT,
        first_name="Paul",
        last_name="REMPLACANT",
        rpps="89970054321",
        profession_code="10",
        specialty_code="SM54",
    )


@pytest.fixture
def colleague(db: None) -> User:
    return User.objects.create_user(
        username="confrere", password=PASSWORD, role=Role.MEDECIN, last_name="CONFRERE", rpps="89970011111"
    )


@pytest.fixture
def referral(db: None) -> LetterTemplate:
    letters_seed_defaults()
    return LetterTemplate.objects.get(kind=LetterTemplate.Kind.REFERRAL)


def _audit(action: str, outcome: str = AuditEvent.Outcome.OK) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, outcome=outcome).order_by("id"))


# --- Services ------------------------------------------------------------------------------------


def test_the_replaced_doctor_opens_then_closes_and_both_are_audited(replaced, remplacant) -> None:  # type: ignore[no-untyped-def]
    replacement = replacement_open(actor=replaced, remplacant=remplacant)
    assert (replacement.replaced, replacement.remplacant, replacement.opened_by) == (replaced, remplacant, replaced)
    assert replacement.closed_at is None
    assert open_replacement_for(remplacant) == replacement
    assert open_replacement_for(replaced) is None  # the replaced doctor is not working in a replacement
    assert list(replacements_given(replaced)) == [replacement]
    assert signature_name(remplacant) == MENTION
    (opened,) = _audit("replacement.open")
    assert (opened.actor, opened.object_type, opened.object_id) == (replaced, "replacement", str(replacement.pk))
    assert opened.detail == {"remplace": replaced.pk, "remplacant": remplacant.pk}

    replacement_close(actor=replaced, replacement=replacement)
    replacement.refresh_from_db()
    assert replacement.closed_at is not None and replacement.closed_by == replaced
    assert open_replacement_for(remplacant) is None
    assert signature_name(remplacant) == "Dr Paul REMPLACANT"
    (closed,) = _audit("replacement.close")
    assert (closed.actor, closed.object_id) == (replaced, str(replacement.pk))
    # Closing twice: a clear error, audited as refused, nothing changed.
    closed_at = replacement.closed_at
    with pytest.raises(ReplacementError, match="déjà terminé"):
        replacement_close(actor=replaced, replacement=replacement)
    replacement.refresh_from_db()
    assert replacement.closed_at == closed_at
    assert len(_audit("replacement.close", AuditEvent.Outcome.REFUSED)) == 1


def test_a_medecin_may_be_the_remplacant(replaced, colleague) -> None:  # type: ignore[no-untyped-def]
    replacement = replacement_open(actor=replaced, remplacant=colleague)
    assert open_replacement_for(colleague) == replacement
    assert signature_name(colleague) == "Dr CONFRERE, remplaçant le Dr Jean MEDECIN"


def test_a_secretary_cannot_open_a_replacement(secretary, remplacant) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        replacement_open(actor=secretary, remplacant=remplacant)
    assert not Replacement.objects.exists()
    (refused,) = _audit("replacement.open", AuditEvent.Outcome.REFUSED)
    assert refused.actor == secretary and refused.detail["remplacant"] == remplacant.pk


def test_a_remplacant_cannot_open_a_replacement_for_himself(remplacant, replaced) -> None:  # type: ignore[no-untyped-def]
    """Only the replaced doctor (a médecin) opens it: a remplaçant cannot put himself in a doctor's context."""
    with pytest.raises(PermissionDenied, match="Seul un médecin"):
        replacement_open(actor=remplacant, remplacant=remplacant)
    with pytest.raises(PermissionDenied, match="Seul un médecin"):
        replacement_open(actor=remplacant, remplacant=replaced)
    assert not Replacement.objects.exists()
    assert len(_audit("replacement.open", AuditEvent.Outcome.REFUSED)) == 2


def test_an_administrator_cannot_open_one(administrator, remplacant) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        replacement_open(actor=administrator, remplacant=remplacant)
    assert not Replacement.objects.exists()


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("self", "votre propre remplaçant"),
        ("secretary", "ni remplaçant ni médecin"),
        ("inactive", "désactivé"),
    ],
)
def test_the_remplacant_must_be_another_active_professional(replaced, remplacant, secretary, who, message) -> None:  # type: ignore[no-untyped-def]
    target = {"self": replaced, "secretary": secretary, "inactive": remplacant}[who]
    if who == "inactive":
        remplacant.is_active = False
        remplacant.save()
    with pytest.raises(ReplacementError, match=message):
        replacement_open(actor=replaced, remplacant=target)
    assert not Replacement.objects.exists()
    (refused,) = _audit("replacement.open", AuditEvent.Outcome.REFUSED)
    assert message in refused.detail["raison"]


def test_another_doctor_cannot_close_someone_elses_replacement(replaced, remplacant, colleague, administrator) -> None:  # type: ignore[no-untyped-def]
    replacement = replacement_open(actor=replaced, remplacant=remplacant)
    for intruder in (colleague, remplacant):
        with pytest.raises(PermissionDenied, match="médecin remplacé ou un administrateur"):
            replacement_close(actor=intruder, replacement=replacement)
    replacement.refresh_from_db()
    assert replacement.closed_at is None
    assert len(_audit("replacement.close", AuditEvent.Outcome.REFUSED)) == 2
    # An administrator may close it (the replaced doctor forgot on return).
    replacement_close(actor=administrator, replacement=replacement)
    replacement.refresh_from_db()
    assert replacement.closed_by == administrator
    assert _audit("replacement.close")[0].actor == administrator


def test_one_open_replacement_per_remplacant(replaced, remplacant, colleague) -> None:  # type: ignore[no-untyped-def]
    first = replacement_open(actor=replaced, remplacant=remplacant)
    # The same doctor again, or another doctor: refused with who is replaced since when.
    for actor in (replaced, colleague):
        with pytest.raises(ReplacementError, match="remplace déjà le Dr Jean MEDECIN depuis le"):
            replacement_open(actor=actor, remplacant=remplacant)
    assert list(Replacement.objects.values_list("pk", flat=True)) == [first.pk]
    # Not a chain either: the remplaçant of someone cannot be replaced, nor replace the doctor he stands in for.
    with pytest.raises(ReplacementError, match="lui-même remplacé"):
        replacement_open(actor=colleague, remplacant=replaced)
    # After the close, the remplaçant may replace someone else.
    replacement_close(actor=replaced, replacement=first)
    second = replacement_open(actor=colleague, remplacant=remplacant)
    assert open_replacement_for(remplacant) == second


def test_the_database_keeps_one_open_replacement_even_past_the_check(
    replaced, remplacant, colleague, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A second call that slipped past the check (a race) hits the constraint: a clear error, one row."""
    replacement_open(actor=replaced, remplacant=remplacant)
    monkeypatch.setattr(replacement_module, "_check_open", lambda actor, remplacant: None)
    with pytest.raises(ReplacementError, match="un seul remplacement ouvert à la fois"):
        replacement_open(actor=colleague, remplacant=remplacant)
    assert Replacement.objects.filter(closed_at__isnull=True).count() == 1
    # The transaction is still usable after the refused insert (savepoint), and the refusal is audited.
    assert len(_audit("replacement.open", AuditEvent.Outcome.REFUSED)) == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Replacement.objects.create(replaced=colleague, remplacant=remplacant, opened_by=colleague)


@contextlib.contextmanager
def _threads_database(tmp_path: Path) -> Iterator[None]:
    """Threads need a shared database: PostgreSQL's test database; for SQLite (in-memory test database, shared
    cache with table locks) a file copy in WAL mode, as in production (same approach as tests/core/test_outbox)."""
    if connection.vendor != "sqlite":
        yield
        return
    path = tmp_path / "threads.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    settings = connections.settings["default"]
    name = settings["NAME"]
    settings["NAME"] = str(path)
    try:
        yield
    finally:
        settings["NAME"] = name


@pytest.mark.django_db(transaction=True)
def test_two_doctors_opening_at_once_for_the_same_remplacant_make_one(
    replaced, remplacant, colleague, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def open_for(actor_pk: int) -> None:
        try:
            actor = User.objects.get(pk=actor_pk)
            target = User.objects.get(pk=remplacant.pk)
            barrier.wait(10)
            replacement_open(actor=actor, remplacant=target)
            outcomes.append("ouvert")
        except ReplacementError:
            outcomes.append("refusé")
        except BaseException as exc:  # reported by the assertion below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    with _threads_database(tmp_path):
        threads = [threading.Thread(target=open_for, args=(pk,)) for pk in (replaced.pk, colleague.pk)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == ["ouvert", "refusé"]
        # Read what the threads wrote from a thread too (its connection opens the shared database; closing this
        # thread's connection would drop SQLite's in-memory test database).
        counted: list[int] = []

        def count() -> None:
            try:
                counted.append(Replacement.objects.filter(remplacant=remplacant, closed_at__isnull=True).count())
            finally:
                connection.close()

        reader = threading.Thread(target=count)
        reader.start()
        reader.join(60)
        assert counted == [1]


def test_candidates_are_the_free_remplacants_and_medecins(replaced, remplacant, colleague, secretary) -> None:  # type: ignore[no-untyped-def]
    assert set(replacement_candidates(replaced)) == {remplacant, colleague}
    replacement_open(actor=colleague, remplacant=remplacant)
    # The remplaçant is busy, the colleague is replaced: nobody left.
    assert list(replacement_candidates(replaced)) == []


# --- Documents -----------------------------------------------------------------------------------


def _letter(actor: User, patient: Any, template: LetterTemplate) -> Any:
    body = letter_draft(actor=actor, patient=patient, template=template, correspondent="Dr Claire DURAND")
    return letter_create(actor=actor, patient=patient, template=template, correspondent="Dr Claire DURAND", body=body)


def test_a_letter_by_the_remplacant_carries_the_mention_in_pdf_merge_and_cda(  # type: ignore[no-untyped-def]
    cda_validator, practice, replaced, remplacant, make_patient, referral
) -> None:
    patient = make_patient()
    replacement = replacement_open(actor=replaced, remplacant=remplacant)
    document = _letter(remplacant, patient, referral)
    assert document.author == remplacant  # the author stays the remplaçant
    pdf = bytes(document.pdf)
    text = pdf_text(pdf)
    # The author line under the practice, with the remplaçant's own RPPS, and the signature of the letter
    # ({{medecin.nom}} at the end of the default referral template).
    assert f"{MENTION} — RPPS 89970054321" in text.splitlines()
    assert MENTION in text.splitlines()
    # The CDA: valid (XSD + CI-SIS profiles), the author and legal authenticator are the remplaçant, the replaced
    # doctor is the participant CON/CORRE since the replacement's start.
    xml = bytes(document.cda)
    report = cda_validator.validate(xml)
    assert report.is_valid, report.format()
    root = parse(xml)
    assert xp(root, "/h:ClinicalDocument/h:author/h:assignedAuthor/h:id/@extension") == ["889970054321"]
    assert xp(root, "/h:ClinicalDocument/h:legalAuthenticator/h:assignedEntity/h:id/@extension") == ["889970054321"]
    (participant,) = xp(root, REPLACED_PARTICIPANT)
    assert xp(participant, "h:associatedEntity/@classCode") == ["PROV"]
    assert xp(participant, "h:associatedEntity/h:id/@extension") == ["889970012345"]
    assert xp(participant, "h:associatedEntity/h:id/@root") == ["1.2.250.1.71.4.2.1"]
    assert xp(participant, "h:associatedEntity/h:associatedPerson/h:name/h:family/text()") == ["MEDECIN"]
    assert xp(participant, "h:functionCode/@codeSystem") == ["1.2.250.1.213.1.1.4.2.280"]
    assert xp(participant, "h:time/h:low/@value")[0].startswith(f"{replacement.opened_at.astimezone():%Y%m%d}")
    embedded = base64.b64decode(xp(root, "/h:ClinicalDocument/h:component/h:nonXMLBody/h:text")[0].text)
    assert embedded == pdf

    # After the close, new documents no longer carry the mention; the stored one keeps it.
    replacement_close(actor=replaced, replacement=replacement)
    after = _letter(remplacant, patient, referral)
    after_text = pdf_text(bytes(after.pdf))
    assert "remplaçant le" not in after_text
    assert "Dr Paul REMPLACANT — RPPS 89970054321" in after_text.splitlines()
    assert xp(parse(bytes(after.cda)), REPLACED_PARTICIPANT) == []
    document.refresh_from_db()
    assert MENTION in pdf_text(bytes(document.pdf))


def test_the_replaced_doctors_own_documents_carry_no_mention(  # type: ignore[no-untyped-def]
    practice, replaced, remplacant, make_patient, referral
) -> None:
    replacement_open(actor=replaced, remplacant=remplacant)
    document = _letter(replaced, make_patient(), referral)
    assert "remplaçant le" not in pdf_text(bytes(document.pdf))
    assert xp(parse(bytes(document.cda)), REPLACED_PARTICIPANT) == []


@pytest.mark.parametrize(("model", "volet"), [("vsm", "VSM_1.4_2022.01"), ("ips", "IPS-FR_2024.01")])
def test_a_medical_summary_by_the_remplacant_stays_conformant(  # type: ignore[no-untyped-def]
    cda_validator, practice, replaced, remplacant, make_patient, model, volet
) -> None:
    """VSM 1.4 and IPS-FR with the replaced doctor as participant: XSD, generic profiles and the volet schematron
    pass without warning (the médecin traitant participant INF/PCP is still there, once)."""
    Practice.objects.filter(pk=practice.pk).update(summary_model=model)
    patient = make_patient()
    patient.medecin_traitant = replaced
    patient.save(update_fields=["medecin_traitant"])
    replacement_open(actor=replaced, remplacant=remplacant)
    document = vsm_create(actor=remplacant, patient=patient)
    xml = bytes(document.cda)
    assert_conformant_volet(cda_validator, xml, volet)
    root = parse(xml)
    assert len(xp(root, REPLACED_PARTICIPANT)) == 1
    assert len(xp(root, "/h:ClinicalDocument/h:participant[@typeCode='INF']")) == 1
    assert xp(root, "/h:ClinicalDocument/h:author/h:assignedAuthor/h:id/@extension") == ["889970054321"]
    assert MENTION in pdf_text(bytes(document.pdf))


# --- Screens -------------------------------------------------------------------------------------


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_doctor_opens_and_ends_the_replacement_from_the_page(practice, replaced, remplacant) -> None:  # type: ignore[no-untyped-def]
    client = _client(replaced)
    page = client.get("/remplacement/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/remplacement/"' in html  # the top bar menu entry
    assert f'<option value="{remplacant.pk}">Dr Paul REMPLACANT · Remplaçant</option>' in html
    response = client.post("/remplacement/", {"remplacant": str(remplacant.pk)}, follow=True)
    html = response.content.decode()
    assert "Remplacement ouvert : Dr Paul REMPLACANT travaille désormais en votre remplacement." in html
    assert "Fin du remplacement" in html
    replacement = Replacement.objects.get()
    assert replacement.closed_at is None and replacement.opened_by == replaced
    # Opening again for the same remplaçant: the clear error on the page.
    again = client.post("/remplacement/", {"remplacant": str(remplacant.pk)}, follow=True).content.decode()
    assert "un seul remplacement ouvert à la fois" in again
    # Another doctor's attempt to end it is refused (403); the replaced doctor ends it.
    assert _client_of_role(Role.MEDECIN).post(f"/remplacement/{replacement.pk}/fin/").status_code == 403
    ended = client.post(f"/remplacement/{replacement.pk}/fin/", follow=True).content.decode()
    assert "Fin du remplacement de Dr Paul REMPLACANT." in ended
    replacement.refresh_from_db()
    assert replacement.closed_by == replaced
    assert client.get(f"/remplacement/{replacement.pk}/fin/").status_code == 405
    assert client.post("/remplacement/", {"remplacant": "x"}, follow=True).status_code == 200


def _client_of_role(role: str) -> Client:
    return _client(User.objects.create_user(username=f"autre-{role}", password=PASSWORD, role=role, last_name="X"))


def test_the_remplacant_sees_the_banner_while_the_replacement_is_open(practice, replaced, remplacant) -> None:  # type: ignore[no-untyped-def]
    client = _client(remplacant)
    assert "Remplacement du" not in client.get("/patients/").content.decode()
    replacement = replacement_open(actor=replaced, remplacant=remplacant)
    html = client.get("/patients/").content.decode()
    assert "Remplacement du Dr Jean MEDECIN</a>" in html
    assert f"«&nbsp;{MENTION}&nbsp;»" in html
    page = client.get("/remplacement/").content.decode()
    assert "Vous remplacez le Dr Jean MEDECIN" in page
    assert "Me faire remplacer" not in page  # a remplaçant opens nothing
    # The replaced doctor has no banner; after the close, the remplaçant neither.
    assert "Remplacement du" not in _client(replaced).get("/patients/").content.decode()
    replacement_close(actor=replaced, replacement=replacement)
    assert "Remplacement du" not in client.get("/patients/").content.decode()


def test_who_sees_the_page(practice, secretary, administrator, replaced, remplacant) -> None:  # type: ignore[no-untyped-def]
    """A secretary (no clinical right) has neither the menu entry nor the page; the administrator sees the open
    replacements of the practice and may end them."""
    secretary_client = _client(secretary)
    assert 'href="/remplacement/"' not in secretary_client.get("/patients/").content.decode()
    assert secretary_client.get("/remplacement/").status_code == 403
    assert secretary_client.post("/remplacement/", {"remplacant": str(remplacant.pk)}).status_code == 403
    assert not Replacement.objects.exists()
    for role in (Role.INTERNE, Role.PARAMEDICAL):  # an interne writes in the record but replaces nobody
        other = _client_of_role(role)
        assert 'href="/remplacement/"' not in other.get("/patients/").content.decode()
        assert other.get("/remplacement/").status_code == 403
    replacement = replacement_open(actor=replaced, remplacant=remplacant)
    assert secretary_client.post(f"/remplacement/{replacement.pk}/fin/").status_code == 403
    admin_client = _client(administrator)
    page = admin_client.get("/remplacement/").content.decode()
    assert "Remplacements en cours dans la structure" in page and "Dr Paul REMPLACANT" in page
    # The administrator is not a médecin: his POST to open is refused, audited.
    assert admin_client.post("/remplacement/", {"remplacant": str(remplacant.pk)}).status_code == 403
    admin_client.post(f"/remplacement/{replacement.pk}/fin/")
    replacement.refresh_from_db()
    assert replacement.closed_by == administrator


def test_a_replaced_doctor_without_rpps_is_named_without_an_id(  # type: ignore[no-untyped-def]
    cda_validator, practice, replaced, remplacant, make_patient, referral
) -> None:
    """StrucMin CI-SISParticipant: an id needs root and extension, so a replaced doctor with no RPPS/ADELI (and no
    known profession) is written by name only — the document stays valid."""
    User.objects.filter(pk=replaced.pk).update(rpps="", profession_code="", specialty_code="")
    replacement_open(actor=User.objects.get(pk=replaced.pk), remplacant=remplacant)
    document = _letter(remplacant, make_patient(), referral)
    xml = bytes(document.cda)
    report = cda_validator.validate(xml)
    assert report.is_valid, report.format()
    (participant,) = xp(parse(xml), REPLACED_PARTICIPANT)
    assert xp(participant, "h:associatedEntity/h:id") == []
    assert xp(participant, "h:associatedEntity/h:code") == []
    assert xp(participant, "h:associatedEntity/h:associatedPerson/h:name/h:family/text()") == ["MEDECIN"]
    assert MENTION in pdf_text(bytes(document.pdf))
