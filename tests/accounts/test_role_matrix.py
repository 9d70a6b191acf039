"""The role matrix of issue 6 §2, proved screen by screen and action by action, for each of the seven roles.

- Every URL name of the application is in `tests/accounts/matrix.py` (the URL list comes from test_crawl's
  enumeration of the URL configuration): a new screen without a row there fails here.
- Each role × each screen (GET): the allowed roles get their answer, the others 403 and no audit row but refusals.
- Each role × each action (POST): the allowed roles change something, the others get 403 and NOTHING changes —
  every table of the application compared row by row before and after (no document, no Delivery/outbox row, no
  identity change…) — and only "refused" audit rows are written.
- A secretary never sees clinical content; a paramédical, an assistant and an interne see the documents the care team
  shares (confidentiality N), not those of confidentiality R/V unless they wrote them; the refusal is audited.
- Every read of a patient record is audited, and the administrator sees « Qui a consulté ce dossier ».
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse

from caducee.accounts.models import Role, User
from caducee.accounts.permissions import ROLE_PERMISSIONS, Perm, can_read_confidentiality, has_permission
from caducee.core.models import AuditEvent
from caducee.documents.models import Document
from tests.accounts.matrix import ALL, CLINICAL, MATRIX, SENIORS, WRITERS, Url, World, world
from tests.accounts.test_crawl import application_urls
from tests.dmp.fake_dmp import INS_CX, MATCHING_IDENTITY, FakeDmp, install_fake_dmp

pytestmark = pytest.mark.django_db

# Tables a request may legitimately touch without it being a "side effect" of the action: the audit trail (checked
# apart), sessions (login/logout, messages), and the read-only reference data (terminologies).
_NOT_STATE = {"core.auditevent", "sessions.session", "record.concept", "contenttypes.contenttype", "auth.permission"}


def _value(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def state_digest() -> dict[str, str]:
    """Every row of every table of the application (but `_NOT_STATE`), one digest per table."""
    digests = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in _NOT_STATE or not model._meta.managed:
            continue
        rows = model._default_manager.order_by("pk").values_list()
        digest = hashlib.sha256()
        for row in rows:
            digest.update(repr(tuple(_value(v) for v in row)).encode())
        digests[label] = digest.hexdigest()
    return digests


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(label for label in before if before[label] != after[label])


@pytest.fixture
def the_world(
    practice: Any, doctor: User, make_patient: Any, settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> World:
    settings.SANDBOX = True  # the test INS of a QUAL identity is allowed (R28) — nothing leaves the machine here
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    # The DMP answers (in memory): the DMP actions of the allowed roles really run, those refused never reach it.
    fake = install_fake_dmp(monkeypatch, FakeDmp())
    fake.add_patient(INS_CX, identity=MATCHING_IDENTITY)
    w = world(practice=practice, doctor=doctor, make_patient=make_patient)
    fake.seed_document(INS_CX, unique_id=w.dmp_entry.unique_id, title=w.dmp_entry.title, content=bytes(w.document.cda))
    return w


def _url(name: str, entry: Url, w: World) -> str:
    return reverse(name, kwargs=entry.kwargs(w)) + entry.query(w)


def _new_audit(since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=since).order_by("pk"))


def _last_audit_pk() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _request(client: Client, user: User, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
    """One request as `user`, its effects rolled back afterwards (each row of the matrix starts from the same world)."""
    client.force_login(user)
    with transaction.atomic():
        before_audit = _last_audit_pk()
        before = state_digest()
        response = client.get(url) if method == "GET" else client.post(url, data or {})
        changed = _changed(before, state_digest())
        audit = _new_audit(before_audit)
        transaction.set_rollback(True)
    return response, changed, audit


# --------------------------------------------------------------------------------------------------------------------
# The matrix covers the whole application


def test_every_url_is_in_the_matrix() -> None:
    """Issue 6 §2: the matrix names every URL of the application (driven by the URL configuration, like the crawl)."""
    names = {resolve(url).view_name for url in application_urls()}
    missing = sorted(names - MATRIX.keys() - {"health"})
    assert not missing, f"URL(s) without a row in tests/accounts/matrix.py: {missing}"
    assert not sorted(MATRIX.keys() - names), "rows of the matrix naming no URL"


def test_the_matrix_as_documented() -> None:
    """The permissions of each role (accounts/permissions.py docstring, docs/security.md)."""
    assert set(ROLE_PERMISSIONS) == set(Role)
    holders = {perm: {role for role in Role if perm in ROLE_PERMISSIONS[role]} for perm in Perm}
    assert holders[Perm.CLINICAL_READ] == CLINICAL
    assert holders[Perm.CLINICAL_WRITE] == WRITERS
    assert holders[Perm.CLINICAL_RESTRICTED_READ] == SENIORS
    assert holders[Perm.PATIENT_ADMIN] == holders[Perm.IDENTITY_MANAGE] == ALL - {Role.ADMINISTRATEUR}
    assert holders[Perm.AUDIT_READ] == holders[Perm.PRACTICE_MANAGE] == {Role.ADMINISTRATEUR}


def test_an_inactive_user_has_no_permission(doctor: User) -> None:
    doctor.is_active = False
    assert not any(has_permission(doctor, perm) for perm in Perm)


# --------------------------------------------------------------------------------------------------------------------
# Every screen and every action, as every role


def test_role_matrix_screens(client: Client, user_of_role: User, the_world: World) -> None:
    """Issue 6 §2: each protected screen (GET) as this role — allowed: its answer; refused: 403, nothing audited but
    refusals (a refused read leaves no "ok" trace and shows nothing)."""
    role = Role(user_of_role.role)
    client.raise_request_exception = False
    problems = []
    for name, entry in MATRIX.items():
        if name == "accounts:logout":
            continue
        url = _url(name, entry, the_world)
        response, changed, audit = _request(client, user_of_role, "GET", url)
        if entry.get is None:
            expected: tuple[int, ...] = (405,)
        elif role in entry.get:
            expected = entry.get_ok
        else:
            expected = (403,)
            if any(event.outcome != AuditEvent.Outcome.REFUSED for event in audit):
                problems.append(f"GET {url}: refused but audited {[(e.action, e.outcome) for e in audit]}")
            if changed:
                problems.append(f"GET {url}: refused but changed {changed}")
        if response.status_code not in expected:
            problems.append(f"GET {url}: {response.status_code}, expected {expected}")
    assert not problems, "\n".join(problems)


def test_role_matrix_actions(client: Client, user_of_role: User, the_world: World) -> None:
    """Issue 6 §2: each state-changing action (POST) as this role — allowed: done (something changed); refused: 403,
    no side effect at all (every table identical) and only "refused" audit rows."""
    role = Role(user_of_role.role)
    problems = []
    for name, entry in MATRIX.items():
        if entry.post is None:
            continue
        url = _url(name, entry, the_world)
        response, changed, audit = _request(client, user_of_role, "POST", url, entry.data(the_world))
        if role in entry.post:
            if response.status_code not in entry.post_ok:
                problems.append(f"POST {url}: {response.status_code}, expected {entry.post_ok}")
        else:
            if response.status_code != 403:
                problems.append(f"POST {url}: {response.status_code}, expected 403")
            if changed:
                problems.append(f"POST {url}: refused but changed {changed}")
            if any(event.outcome != AuditEvent.Outcome.REFUSED for event in audit):
                problems.append(f"POST {url}: refused but audited {[(e.action, e.outcome) for e in audit]}")
    assert not problems, "\n".join(problems)


def test_every_action_does_something_when_allowed(
    client: Client, doctor: User, administrator: User, the_world: World
) -> None:
    """The refused cases above prove something only if the same POST changes something when allowed: run each as the
    médecin (the administrator for his own screens) and see a table change or a non-refused audit row."""
    idle = []
    for name, entry in MATRIX.items():
        if entry.post is None or not entry.effect:
            continue
        actor = doctor if Role.MEDECIN in entry.post else administrator
        url = _url(name, entry, the_world)
        response, changed, audit = _request(client, actor, "POST", url, entry.data(the_world))
        assert response.status_code in entry.post_ok, (url, response.status_code)
        if not changed and all(e.outcome == AuditEvent.Outcome.REFUSED for e in audit):
            idle.append(url)
    assert not idle, f"allowed but nothing happened: {idle}"


# --------------------------------------------------------------------------------------------------------------------
# What the care team shares: documents of confidentiality R/V


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        (Role.MEDECIN, True),
        (Role.REMPLACANT, True),
        (Role.INTERNE, False),
        (Role.PARAMEDICAL, False),
        (Role.ASSISTANT, False),
        (Role.SECRETAIRE, False),
        (Role.ADMINISTRATEUR, False),
    ],
)
def test_restricted_documents_only_for_the_doctors_in_charge(
    client: Client, the_world: World, role: Role, sees: bool
) -> None:
    """Issue 6 §2: a document of confidentiality R (or V) — its page, PDF, CDA and its line in the list — only for
    médecins and remplaçants; the paramédical, the assistant and the interne see the N ones; each refusal of an R
    document to a clinical role is audited with outcome refused, naming the patient."""
    w = the_world
    user = User.objects.create_user(username=f"c-{role}", role=role, last_name="CONF", rpps="89970077001")
    client.force_login(user)
    listing = client.get(f"/documents/patient/{w.patient.pk}/")
    clinical = role in CLINICAL
    assert listing.status_code == (200 if clinical else 403)
    if clinical:
        page = listing.content.decode()
        assert "Lettre ordinaire" in page
        assert ("Compte rendu confidentiel" in page) is sees
        assert client.get(f"/documents/{w.document.pk}/").status_code == 200
    for suffix in ("", "pdf/", "cda.xml"):
        before = _last_audit_pk()
        response = client.get(f"/documents/{w.restricted.pk}/{suffix}")
        assert response.status_code == (200 if sees else 403), suffix
        audit = _new_audit(before)
        if sees:
            assert [e.outcome for e in audit] == ["ok"] and audit[0].patient_id == w.patient.pk
        elif clinical:
            assert [(e.action, e.outcome, e.patient_id) for e in audit] == [("document.read", "refused", w.patient.pk)]
            assert audit[0].detail == {"confidentiality": "R"}
        else:
            assert audit == []


def test_the_author_of_a_restricted_document_opens_it(client: Client, the_world: World) -> None:
    """An interne reads back the R document he wrote (and only that one)."""
    interne = User.objects.create_user(username="interne", role=Role.INTERNE, last_name="INTERNE", rpps="89970077002")
    own = Document.objects.create(
        **{
            f.name: getattr(the_world.restricted, f.name)
            for f in Document._meta.concrete_fields
            if f.name not in ("id", "author", "unique_id_ext", "set_id_ext", "replaces")
        },
        author=interne,
        unique_id_ext="own-1",
        set_id_ext="own-1",
    )
    assert can_read_confidentiality(interne, "V", interne.pk) and not can_read_confidentiality(interne, "V", None)
    client.force_login(interne)
    assert client.get(f"/documents/{own.pk}/").status_code == 200
    assert client.get(f"/documents/{the_world.restricted.pk}/").status_code == 403
    page = client.get(f"/documents/patient/{the_world.patient.pk}/").content.decode()
    assert page.count("Compte rendu confidentiel") == 1


def test_a_secretary_never_sees_clinical_content(client: Client, secretary: User, the_world: World) -> None:
    """Issue 6 §2: the chart shows her the identity, never the record, the documents or the consultations."""
    client.force_login(secretary)
    page = client.get(f"/patients/{the_world.patient.pk}/").content.decode()
    assert "ADRTROIS" in page
    for clinical in ("Asthme", "Salbutamol", "Lettre ordinaire", "Compte rendu confidentiel", "Toux"):
        assert clinical not in page, clinical
    for name, entry in MATRIX.items():
        if entry.get and Role.SECRETAIRE not in entry.get and name != "accounts:audit_patient":
            assert client.get(_url(name, entry, the_world)).status_code == 403, name


# --------------------------------------------------------------------------------------------------------------------
# Every read of a patient record is audited; « Qui a consulté ce dossier »


# Known gaps, listed so that they stay visible (and this test fails once one is fixed, to shorten the list): the
# MSSanté « Envoyer » screen shows the patient's identity and documents unaudited — mss/views.py belongs to another
# slice of issue 6; reported to the lead.
UNAUDITED_READS: set[str] = set()


def test_every_patient_read_is_audited(client: Client, doctor: User, the_world: World) -> None:
    """Issue 6 §2 / SC.SSI: each patient-scoped screen (chart, record, documents and their PDF/CDA, DMP tab and
    document, consultation, identity, letters, MSSanté « Envoyer ») leaves an audit row naming that patient."""
    scoped = [name for name, entry in MATRIX.items() if entry.patient_scoped]
    assert len(scoped) >= 15
    missing: list[str] = []
    for name in scoped:
        entry = MATRIX[name]
        response, _changed, audit = _request(client, doctor, "GET", _url(name, entry, the_world))
        assert response.status_code in entry.get_ok, (name, response.status_code)
        if not [e for e in audit if e.patient_id == the_world.patient.pk]:
            missing.append(name)
    assert missing == sorted(UNAUDITED_READS), f"patient reads without an audit row naming the patient: {missing}"


def test_who_opened_this_chart(
    client: Client, doctor: User, secretary: User, administrator: User, the_world: World
) -> None:
    """Issue 6 §2: the administrator lists every audited access to one patient — who, role, when, what, outcome —
    newest first, paginated, linked from the audit page; nobody else may."""
    w = the_world
    client.force_login(secretary)
    client.get(f"/patients/{w.patient.pk}/")
    assert client.get(f"/audit/patient/{w.patient.pk}/").status_code == 403
    client.force_login(doctor)
    client.get(f"/dossier/{w.patient.pk}/")
    assert client.get(f"/audit/patient/{w.patient.pk}/").status_code == 403
    paramedical = User.objects.create_user(username="inf", role=Role.PARAMEDICAL, last_name="INFIRMIERE")
    client.force_login(paramedical)
    client.get(f"/documents/{w.restricted.pk}/")  # refused: R
    client.force_login(administrator)
    html = client.get(f"/audit/patient/{w.patient.pk}/").content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert "INFIRMIERE" in rows[0] and "Paramédical" in rows[0] and "Refusé" in rows[0]
    assert "Lecture d&#x27;un document" in rows[0]
    assert "MEDECIN" in rows[1] and "Médecin" in rows[1] and "Lecture du dossier médical" in rows[1]
    assert any("SECRETAIRE" in r and "Secrétaire" in r and "Ouverture du dossier" in r for r in rows)
    assert "Qui a consulté ce dossier" in client.get(f"/audit/?patient={w.patient.pk}").content.decode()
    assert f'href="/audit/patient/{w.patient.pk}/"' in client.get("/audit/").content.decode()
    # Reading it is traced, without counting as an access to the chart.
    event = AuditEvent.objects.filter(action="audit.patient").latest("pk")
    assert (event.actor, event.object_id, event.patient_id) == (administrator, str(w.patient.pk), None)
    other = client.get(f"/audit/patient/{w.patient.pk + 1000}/").content.decode()
    assert "Aucun accès enregistré" in other


def test_who_opened_this_chart_is_paginated(client: Client, administrator: User, doctor: User, practice: Any) -> None:
    for _ in range(55):
        AuditEvent.objects.create(actor=doctor, actor_label="MEDECIN", action="patient.read", patient_id=7)
    AuditEvent.objects.create(actor=doctor, actor_label="MEDECIN", action="record.read", patient_id=8)
    client.force_login(administrator)
    first = client.get("/audit/patient/7/").content.decode()
    assert first.count("Ouverture du dossier") == 50 and "Page 1 sur 2" in first and "?page=2" in first
    second = client.get("/audit/patient/7/?page=2").content.decode()
    assert second.count("Ouverture du dossier") == 5 and "Lecture du dossier médical" not in second


# --------------------------------------------------------------------------------------------------------------------
# The services refuse by themselves (a view forgetting its check changes nothing)


def _service_calls(w: World) -> dict[str, Any]:
    """Each writing service, called as the UI would call it; the key names the permission it needs."""
    from caducee.dmp.services import dmp_consent_record, dmp_send_document
    from caducee.documents.letters.services import letter_create
    from caducee.documents.production import vsm_create
    from caducee.identity.models import Identity
    from caducee.identity.services import identity_set_attributes, vigilance_resolve
    from caducee.identity.traits import clean_traits
    from caducee.mss.services import mss_send
    from caducee.patients.services import patient_create, patient_open
    from caducee.record import services as record
    from caducee.record.consultations import consultation_open, consultation_save
    from caducee.record.models import Consultation, LongTermTreatment, Problem

    # Fresh rows for each call: a service mutates the instance it is given, and the rollback does not undo that.
    p = w.patient

    def identity() -> Identity:
        return Identity.objects.get(pk=p.identity.pk)

    def consultation() -> Consultation:
        return Consultation.objects.get(pk=w.consultation.pk)

    return {
        "patient_create": (Perm.PATIENT_ADMIN, lambda a: patient_create(actor=a, traits=clean_traits(_traits()))),
        "patient_open": (Perm.PATIENT_ADMIN, lambda a: patient_open(actor=a, patient_id=p.pk)),
        "identity_set_attributes": (
            Perm.IDENTITY_MANAGE,
            lambda a: identity_set_attributes(
                actor=a, identity=identity(), version=identity().version, doubtful=True, fictitious=False
            ),
        ),
        "vigilance_resolve": (
            Perm.IDENTITY_VIGILANCE,
            lambda a: vigilance_resolve(
                actor=a, case=type(w.vigilance_case).objects.get(pk=w.vigilance_case.pk), resolution="ok"
            ),
        ),
        "problem_create": (Perm.CLINICAL_WRITE, lambda a: record.problem_create(actor=a, patient=p, label="Migraine")),
        "problem_delete": (
            Perm.CLINICAL_WRITE,
            lambda a: record.problem_delete(actor=a, problem=Problem.objects.get(pk=w.problem.pk)),
        ),
        "treatment_stop": (
            Perm.CLINICAL_WRITE,
            lambda a: record.treatment_stop(actor=a, treatment=LongTermTreatment.objects.get(pk=w.treatment.pk)),
        ),
        "consultation_open": (Perm.CLINICAL_WRITE, lambda a: consultation_open(actor=a, patient=p)),
        "consultation_save": (
            Perm.CLINICAL_WRITE,
            # Issue 13 §2: a draft is changed by its author (his own, opened here), not by any writer.
            lambda a: consultation_save(
                actor=a,
                consultation=(own := consultation_open(actor=a, patient=p)),
                version=own.version,
                fields={"motif": "x"},
            ),
        ),
        "vsm_create": (Perm.CLINICAL_WRITE, lambda a: vsm_create(actor=a, patient=p)),
        "letter_create": (
            Perm.CLINICAL_WRITE,
            lambda a: letter_create(actor=a, patient=p, template=w.template, correspondent="", body="Texte"),
        ),
        "dmp_consent_record": (
            Perm.CLINICAL_WRITE,
            lambda a: dmp_consent_record(actor=a, patient=p, feed_opposed=True, consult_consent=False),
        ),
        "dmp_send_document": (
            Perm.CLINICAL_WRITE,
            lambda a: dmp_send_document(actor=a, document=w.document, visibility=[]),
        ),
        "mss_send": (
            Perm.CLINICAL_WRITE,
            lambda a: mss_send(
                actor=a, patient=p, documents=[w.document], recipients=["x@test.mssante.fr"], body="", replaces=None
            ),
        ),
    }


def _traits() -> dict[str, str]:
    from tests.accounts.matrix import NEW_PATIENT

    return dict(NEW_PATIENT)


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_services_refuse_by_themselves(role: Role, the_world: World) -> None:
    """Issue 6 §2: every writing service called directly by an actor without the permission raises PermissionDenied
    and writes nothing (every table identical, no audit row but refusals); with it, the call goes through."""
    actor = User.objects.create_user(
        username=f"s-{role}", role=role, last_name="SERVICE", rpps="89970066001", profession_code="10"
    )
    refused = []
    for name, (perm, call) in _service_calls(the_world).items():
        with transaction.atomic():
            before_audit, before = _last_audit_pk(), state_digest()
            try:
                call(actor)
            except PermissionDenied:
                denied = True
            else:
                denied = False
            changed = _changed(before, state_digest())
            audit = _new_audit(before_audit)
            transaction.set_rollback(True)
        allowed = perm in ROLE_PERMISSIONS[role]
        assert denied is not allowed, (name, role)
        if denied:
            refused.append(name)
            assert not changed, (name, changed)
            assert all(e.outcome == AuditEvent.Outcome.REFUSED for e in audit), (name, audit)
        else:
            assert changed or audit, (name, "allowed but nothing written")
    assert role not in (Role.SECRETAIRE, Role.ADMINISTRATEUR) or {
        n for n in refused if n.startswith(("problem", "vsm"))
    }


def test_a_post_refused_by_the_view_is_also_refused_by_its_service(the_world: World) -> None:
    """The models a refused action would have written, named explicitly (the digest above covers them all)."""
    from caducee.core.models import Delivery
    from caducee.mss.models import OutboundMessage

    secretary = User.objects.create_user(username="s2", role=Role.SECRETAIRE, last_name="S")
    counts = (Document.objects.count(), Delivery.objects.count(), OutboundMessage.objects.count())
    for name, (_perm, call) in _service_calls(the_world).items():
        if name.startswith(("vsm", "letter", "dmp_send", "mss")):
            with pytest.raises(PermissionDenied):
                call(secretary)
    assert (Document.objects.count(), Delivery.objects.count(), OutboundMessage.objects.count()) == counts
