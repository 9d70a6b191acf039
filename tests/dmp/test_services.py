"""DMP services against the in-memory FakeDmp: the SC.DMP rules (R28, CONF.01/02/06/09, UX.05/14/36, author-only
delete, permissions with no side effect)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from caducee.core.models import AuditEvent, Delivery
from caducee.dmp.api import STATUS_ARCHIVED, STATUS_DELETED, DmpIdentity, DmpUnavailable
from caducee.dmp.models import DmpAccess, DmpConsent, DmpEntry
from caducee.dmp.selectors import dmp_panel, document_dmp_state, document_dmp_states
from caducee.dmp.services import (
    DmpServiceError,
    dmp_archive,
    dmp_check,
    dmp_consent_record,
    dmp_delete,
    dmp_open,
    dmp_refresh,
    dmp_send_document,
    dmp_set_visibility,
)
from tests.dmp.fake_dmp import (
    DOCTOR_NATIONAL_ID,
    INS_CX,
    MATCHING_IDENTITY,
    FakeDmp,
    fake_dmp,  # noqa: F401 — fixture
    store_n1,
)
from tests.documents.cda_records import qualify

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(make_patient, settings):  # type: ignore[no-untyped-def]
    settings.SANDBOX = True  # test INS OID: transmissible in the sandbox only (R28 gate)
    return qualify(make_patient())


@pytest.fixture
def dmp(fake_dmp: FakeDmp) -> FakeDmp:  # noqa: F811
    fake_dmp.add_patient(INS_CX, identity=MATCHING_IDENTITY)
    return fake_dmp


def consent(doctor, patient, *, feed_opposed: bool = False, consult: bool = True):  # type: ignore[no-untyped-def]
    return dmp_consent_record(actor=doctor, patient=patient, feed_opposed=feed_opposed, consult_consent=consult)


def actions(patient) -> list[str]:  # type: ignore[no-untyped-def]
    return list(AuditEvent.objects.filter(patient_id=patient.pk).order_by("id").values_list("action", flat=True))


# --- R28 and TD0.2 --------------------------------------------------------------------------------------------


def test_a_non_qualified_identity_never_reaches_the_dmp(doctor, practice, make_patient, dmp) -> None:  # type: ignore[no-untyped-def]
    prov = make_patient()
    with pytest.raises(DmpServiceError, match="n'est pas qualifiée"):
        dmp_check(actor=doctor, patient=prov)
    document = store_n1(practice=practice, author=doctor, patient=prov)
    with pytest.raises(DmpServiceError, match="n'est pas qualifiée"):
        dmp_send_document(actor=doctor, document=document)
    assert dmp.calls == []
    assert not Delivery.objects.exists()
    assert AuditEvent.objects.filter(action="dmp.send", outcome="refused").count() == 1


def test_check_records_the_status_without_divergence(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    access = dmp_check(actor=doctor, patient=patient)
    assert (access.exists, access.active, access.authorization, access.divergence) == (True, True, "ABSENTE", "")
    assert access.checked_at is not None
    assert dmp.methods() == ["test_existence"]  # no consent recorded: no TD0.3
    assert dmp.calls[0][1:] == (DOCTOR_NATIONAL_ID, INS_CX)
    assert actions(patient)[-1] == "dmp.check"


def test_identity_divergence_is_traced_without_showing_the_dmp_traits(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    dmp.patients[INS_CX].identity = DmpIdentity(
        birth_name="ADRQUATRE", given="DOMINIQUE MARIE", sex="F", birth_date="19970227"
    )
    access = dmp_check(actor=doctor, patient=patient)
    assert "nom de naissance" in access.divergence and "date de naissance" in access.divergence
    assert "prénom" not in access.divergence and "sexe" not in access.divergence
    assert "ADRQUATRE" not in access.divergence and "19970227" not in access.divergence  # RG_0320
    event = AuditEvent.objects.get(action="dmp.identity_divergence", patient_id=patient.pk)
    assert event.detail["traits"] == ["nom de naissance", "date de naissance"]
    assert "ADRQUATRE" not in str(event.detail)
    # Back in line: the divergence disappears.
    dmp.patients[INS_CX].identity = MATCHING_IDENTITY
    assert dmp_check(actor=doctor, patient=patient).divergence == ""


def test_authorization_is_set_automatically_when_the_patient_consented(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    consent(doctor, patient)
    access = dmp_check(actor=doctor, patient=patient)
    assert dmp.methods() == ["test_existence", "set_authorization"]
    assert access.authorization == "VALIDE" and access.authorization_until is not None
    assert AccessRow(patient).authorization == "VALIDE"
    assert "dmp.authorization" in actions(patient)
    # Valid: no new TD0.3.
    dmp_check(actor=doctor, patient=patient)
    assert dmp.methods().count("set_authorization") == 1
    # Lapsed during care (UX.50): renewed.
    dmp.patients[INS_CX].authorizations[DOCTOR_NATIONAL_ID] = ("VALIDE", timezone.localdate() - dt.timedelta(days=1))
    assert dmp_check(actor=doctor, patient=patient).authorization == "VALIDE"
    assert dmp.methods().count("set_authorization") == 2


def test_a_blocked_professional_is_never_reauthorized(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    consent(doctor, patient)
    dmp.patients[INS_CX].blocked.add(DOCTOR_NATIONAL_ID)
    access = dmp_check(actor=doctor, patient=patient)
    assert access.authorization == "INTERDITE"
    assert "set_authorization" not in dmp.methods()
    with pytest.raises(DmpServiceError, match="interdit"):
        dmp_refresh(actor=doctor, patient=patient)


def test_service_failures_become_french_errors_and_are_audited(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    dmp.fail("test_existence", DmpUnavailable("Le service DMP ne répond pas."))
    with pytest.raises(DmpServiceError, match="ne répond pas"):
        dmp_check(actor=doctor, patient=patient)
    event = AuditEvent.objects.get(action="dmp.check", patient_id=patient.pk)
    assert event.outcome == "error"


def test_a_doctor_without_national_id_gets_a_clear_error(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    doctor.rpps = ""
    doctor.save()
    with pytest.raises(DmpServiceError, match="RPPS ni ADELI"):
        dmp_check(actor=doctor, patient=patient)
    assert dmp.calls == []


def AccessRow(patient) -> DmpAccess:  # type: ignore[no-untyped-def]
    return DmpAccess.objects.get(patient=patient)


# --- consent, permissions --------------------------------------------------------------------------------------


def test_consent_is_recorded_and_audited(doctor, practice, patient) -> None:  # type: ignore[no-untyped-def]
    recorded = consent(doctor, patient, feed_opposed=True, consult=False)
    assert (recorded.feed_opposed, recorded.consult_consent, recorded.recorded_by) == (True, False, doctor)
    consent(doctor, patient, feed_opposed=False, consult=True)
    row = DmpConsent.objects.get(patient=patient)
    assert (row.feed_opposed, row.consult_consent) == (False, True)
    events = AuditEvent.objects.filter(action="dmp.consent", patient_id=patient.pk)
    assert [e.detail["feed_opposed"] for e in events.order_by("id")] == [True, False]


def test_a_secretary_is_refused_with_no_side_effect(secretary, doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    document = store_n1(practice=practice, author=doctor, patient=patient)
    before = AuditEvent.objects.count()
    for call in (
        lambda: dmp_check(actor=secretary, patient=patient),
        lambda: dmp_refresh(actor=secretary, patient=patient),
        lambda: dmp_send_document(actor=secretary, document=document),
        lambda: dmp_consent_record(actor=secretary, patient=patient, feed_opposed=True, consult_consent=True),
    ):
        with pytest.raises(PermissionDenied):
            call()
    entry = DmpEntry.objects.create(patient=patient, entry_uuid="urn:uuid:x", unique_id="1.2^3", status="s", title="t")
    for call in (
        lambda: dmp_open(actor=secretary, entry=entry),
        lambda: dmp_set_visibility(
            actor=secretary, entry=entry, masked_ps=True, invisible_patient=False, invisible_legal_reps=False
        ),
        lambda: dmp_delete(actor=secretary, entry=entry),
        lambda: dmp_archive(actor=secretary, entry=entry),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert dmp.calls == []
    assert AuditEvent.objects.count() == before
    assert not Delivery.objects.exists() and not DmpConsent.objects.exists() and not DmpAccess.objects.exists()


# --- feeding -------------------------------------------------------------------------------------------------


def test_send_enqueues_one_delivery_idempotently(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    document = store_n1(practice=practice, author=doctor, patient=patient)
    assert document_dmp_state(document) == "Non envoyé au DMP"
    first = dmp_send_document(actor=doctor, document=document, visibility=["INVISIBLE_PATIENT"])
    again = dmp_send_document(actor=doctor, document=document, visibility=["INVISIBLE_PATIENT"])
    assert first.pk == again.pk and Delivery.objects.count() == 1
    assert (first.channel, first.action, first.document_unique_id) == ("dmp", "publish", document.unique_id)
    assert first.payload == {"visibility": ["INVISIBLE_PATIENT"], "actor_id": doctor.pk}
    document.refresh_from_db()
    assert document.dmp_invisible_patient and not document.dmp_hidden_from_ps
    assert document_dmp_state(document) == "En attente d'envoi au DMP"
    assert dmp.calls == []  # asynchronous: nothing sent before the worker runs
    Delivery.objects.filter(pk=first.pk).update(state=Delivery.State.REJECTED, last_error="DMP fermé")
    assert document_dmp_states([document]) == {document.pk: "Rejeté par le DMP : DMP fermé"}


def test_send_is_refused_when_the_patient_opposed(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    consent(doctor, patient, feed_opposed=True)
    document = store_n1(practice=practice, author=doctor, patient=patient)
    with pytest.raises(DmpServiceError, match="opposé"):
        dmp_send_document(actor=doctor, document=document)
    assert not Delivery.objects.exists()


def test_send_refuses_an_unknown_visibility(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    document = store_n1(practice=practice, author=doctor, patient=patient)
    with pytest.raises(DmpServiceError, match="inconnue"):
        dmp_send_document(actor=doctor, document=document, visibility=["SECRET"])
    assert not Delivery.objects.exists()


# --- consultation ----------------------------------------------------------------------------------------------


def test_refresh_needs_the_patients_consent(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DmpServiceError, match="n'a pas donné son consentement"):
        dmp_refresh(actor=doctor, patient=patient)
    assert dmp.calls == []


def test_refresh_first_two_years_then_only_new_documents(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    consent(doctor, patient)
    today = timezone.localdate()
    recent = (today - dt.timedelta(days=30)).strftime("%Y%m%d")
    old = (today - dt.timedelta(days=365 * 3)).strftime("%Y%m%d")
    dmp.seed_document(
        INS_CX,
        unique_id="1.2.250.1.1^1",
        title="CR d'hospitalisation",
        service_start=recent,
        submitted=dmp.now - dt.timedelta(days=30),
    )
    dmp.seed_document(
        INS_CX,
        unique_id="1.2.250.1.1^2",
        title="Vieux CR",
        service_start=old,
        submitted=dmp.now - dt.timedelta(days=365 * 3),
    )

    entries = dmp_refresh(actor=doctor, patient=patient)
    assert [e.title for e in entries] == ["CR d'hospitalisation"]  # the 3-year-old one is outside the window
    assert dmp.methods() == ["test_existence", "set_authorization", "find_documents"]
    assert entries[0].is_new and entries[0].author_label == "JEAN DUPONT"
    assert entries[0].author_national_id == "810001234567"
    assert entries[0].creation_time is not None and entries[0].author_institution == "CHU de Test"
    access = AccessRow(patient)
    assert access.last_listed_at is not None

    dmp.tick(120)
    dmp.seed_document(INS_CX, unique_id="1.2.250.1.1^3", title="Résultats de biologie", service_start=recent)
    entries = dmp_refresh(actor=doctor, patient=patient)
    assert dmp.methods()[-1] == "find_new_documents"  # fresh TD0.2 (< 5 min): no new check
    assert dmp.methods().count("test_existence") == 1
    assert sorted(e.title for e in entries) == ["CR d'hospitalisation", "Résultats de biologie"]
    assert DmpEntry.objects.filter(patient=patient).count() == 2  # re-listed entries are not duplicated
    panel = dmp_panel(patient, professional=doctor)
    assert panel.new_count == 2 and len(panel.entries) == 2
    assert [e.title for e in dmp_panel(patient, professional=doctor, author="dupont").entries] != []
    assert dmp_panel(patient, professional=doctor, type_code="nope").entries == []
    assert actions(patient).count("dmp.list") == 2


def test_a_document_of_ours_in_the_dmp_is_linked_not_duplicated(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    """UX.36: the DMP entry whose uniqueId is a stored document links to it (one row, not highlighted)."""
    from caducee.core.outbox import run_worker

    consent(doctor, patient)
    document = store_n1(practice=practice, author=doctor, patient=patient)
    dmp_send_document(actor=doctor, document=document)
    run_worker(until_idle=True)
    (entry,) = dmp_refresh(actor=doctor, patient=patient)
    assert entry.unique_id == document.unique_id and entry.local_document_id == document.pk
    assert entry.seen
    assert document_dmp_state(document).startswith("Envoyé au DMP le ")


def test_open_visibility_archive(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    consent(doctor, patient)
    # Authored by the doctor (sent from another software): a document masked to professionals stays visible to
    # its author only (docs/dmp.md), so the round trip below needs the author.
    dmp.seed_document(
        INS_CX,
        unique_id="1.2.250.1.1^1",
        content=b"<ClinicalDocument>cr</ClinicalDocument>",
        author=f"{DOCTOR_NATIONAL_ID}^MEDECIN^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
    )
    (entry,) = dmp_refresh(actor=doctor, patient=patient)
    assert dmp_open(actor=doctor, entry=entry) == b"<ClinicalDocument>cr</ClinicalDocument>"
    entry.refresh_from_db()
    assert entry.seen
    before = entry.entry_uuid
    dmp_set_visibility(actor=doctor, entry=entry, masked_ps=True, invisible_patient=False, invisible_legal_reps=True)
    entry.refresh_from_db()
    assert entry.confidentiality_codes == ["N", "MASQUE_PS", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    assert entry.entry_uuid != before and entry.masked_ps
    assert dmp.documents["1.2.250.1.1^1"].document.version == 2
    dmp_set_visibility(actor=doctor, entry=entry, masked_ps=False, invisible_patient=False, invisible_legal_reps=False)
    entry.refresh_from_db()
    assert entry.confidentiality_codes == ["N"]
    dmp_archive(actor=doctor, entry=entry)
    assert dmp.documents["1.2.250.1.1^1"].document.status == STATUS_ARCHIVED
    assert DmpEntry.objects.get(pk=entry.pk).status == STATUS_ARCHIVED
    assert {"dmp.open", "dmp.visibility", "dmp.archive"} <= set(actions(patient))


def test_visibility_of_our_document_follows_on_the_local_flags(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    from caducee.core.outbox import run_worker

    consent(doctor, patient)
    document = store_n1(practice=practice, author=doctor, patient=patient)
    dmp_send_document(actor=doctor, document=document)
    run_worker(until_idle=True)
    (entry,) = dmp_refresh(actor=doctor, patient=patient)
    dmp_set_visibility(actor=doctor, entry=entry, masked_ps=True, invisible_patient=True, invisible_legal_reps=False)
    document.refresh_from_db()
    assert (document.dmp_hidden_from_ps, document.dmp_invisible_patient) == (True, True)
    # Masked to professionals: still listed to its author (us).
    assert dmp.find_by_unique_id(dmp_caller_of(doctor, practice), INS_CX, document.unique_id) is not None


def dmp_caller_of(user, practice):  # type: ignore[no-untyped-def]
    from caducee.dmp.caller import dmp_caller

    return dmp_caller(user, practice)


def test_only_the_author_deletes(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    from caducee.core.outbox import run_worker

    consent(doctor, patient)
    dmp.seed_document(INS_CX, unique_id="1.2.250.1.1^1")  # authored by someone else
    document = store_n1(practice=practice, author=doctor, patient=patient)
    dmp_send_document(actor=doctor, document=document)
    run_worker(until_idle=True)
    entries = {e.unique_id: e for e in dmp_refresh(actor=doctor, patient=patient)}
    calls = len(dmp.calls)
    with pytest.raises(DmpServiceError, match="Seul l'auteur"):
        dmp_delete(actor=doctor, entry=entries["1.2.250.1.1^1"])
    assert len(dmp.calls) == calls  # refused locally, nothing sent
    assert AuditEvent.objects.filter(action="dmp.delete", outcome="refused").count() == 1
    dmp_delete(actor=doctor, entry=entries[document.unique_id])
    assert dmp.documents[document.unique_id].document.status == STATUS_DELETED
    assert not DmpEntry.objects.filter(unique_id=document.unique_id).exists()
    assert dmp_refresh(actor=doctor, patient=patient)  # the other one is still there


def test_panel_and_states_in_a_fixed_number_of_queries(
    doctor, practice, patient, dmp, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    consent(doctor, patient)
    for n in range(5):
        dmp.seed_document(INS_CX, unique_id=f"1.2.250.1.1^{n}", title=f"Document {n}")
    documents = [store_n1(practice=practice, author=doctor, patient=patient) for _ in range(3)]
    for document in documents:
        dmp_send_document(actor=doctor, document=document)
    dmp_refresh(actor=doctor, patient=patient)
    with django_assert_num_queries(4):
        panel = dmp_panel(patient, professional=doctor)
    assert len(panel.entries) == 5 and panel.new_count == 5 and len(panel.deliveries) == 3
    assert [e.creation_time for e in panel.entries] == sorted((e.creation_time for e in panel.entries), reverse=True)
    with django_assert_num_queries(1):
        states = document_dmp_states(documents)
    assert set(states.values()) == {"En attente d'envoi au DMP"}


def test_a_replaced_document_leaves_the_list(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    from caducee.core.outbox import run_worker

    consent(doctor, patient)
    first = store_n1(practice=practice, author=doctor, patient=patient)
    dmp_send_document(actor=doctor, document=first)
    run_worker(until_idle=True)
    assert [e.unique_id for e in dmp_refresh(actor=doctor, patient=patient)] == [first.unique_id]
    second = store_n1(practice=practice, author=doctor, patient=patient, replaces=first)
    dmp_send_document(actor=doctor, document=second)
    run_worker(until_idle=True)
    dmp.tick(60)
    assert [e.unique_id for e in dmp_refresh(actor=doctor, patient=patient)] == [second.unique_id]
    assert [e.unique_id for e in dmp_panel(patient, professional=doctor).entries] == [second.unique_id]
    assert DmpEntry.objects.get(unique_id=first.unique_id).status.endswith("Deprecated")


def test_managing_a_document_needs_the_consent_too(doctor, practice, patient, dmp) -> None:  # type: ignore[no-untyped-def]
    entry = DmpEntry.objects.create(
        patient=patient, entry_uuid="urn:uuid:x", unique_id="1.2^3", status="s", title="t", author_national_id="1"
    )
    with pytest.raises(DmpServiceError, match="consentement"):
        dmp_set_visibility(
            actor=doctor, entry=entry, masked_ps=True, invisible_patient=False, invisible_legal_reps=False
        )
    with pytest.raises(DmpServiceError, match="consentement"):
        dmp_archive(actor=doctor, entry=entry)
    assert dmp.calls == []
