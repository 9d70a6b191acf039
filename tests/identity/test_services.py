"""Identity services: R16/R21 traces, R25, R26, R27, R28, R49, optimistic concurrency, INSi acceptance (R6)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from caducee.core.errors import SandboxDataError
from caducee.core.models import AuditEvent
from caducee.identity import services
from caducee.identity.ins import transmissible_ins
from caducee.identity.models import InsiCall, Status, StatusChange, VigilanceCase
from caducee.identity.traits import clean_traits

pytestmark = pytest.mark.django_db

INSI_ADRTROIS = {
    "matricule": "297022A020778",
    "key": "78",
    "oid": "1.2.250.1.213.1.4.8",
    "history": [],
    "birth_name": "ADRTROIS",
    "given_names": "DOMINIQUE",
    "first_given_name": "DOMINIQUE",
    "sex": "F",
    "birth_date": "1997-02-26",
    "birthplace_cog": "2A020",
    "sandbox": True,
}


def _found(identity, result=None):  # type: ignore[no-untyped-def]
    return InsiCall.objects.create(
        identity=identity,
        operation="traits",
        endpoint="https://127.0.0.1/lps",
        outcome="00",
        result=result or INSI_ADRTROIS,
        attempts=1,
    )


def test_creation_is_prov_historised_and_audited(make_patient) -> None:  # type: ignore[no-untyped-def]
    patient = make_patient()
    identity = patient.identity
    assert identity.status == Status.PROV
    change = StatusChange.objects.get(identity=identity)
    assert (change.previous, change.new, change.by.username) == ("", "PROV", "secretaire")  # R21
    assert AuditEvent.objects.filter(action="identity.create", object_id=str(identity.pk)).count() == 1  # R16


def test_accept_insi_gives_recup_then_document_gives_qual(make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    call = _found(identity)
    identity = services.identity_accept_insi(
        actor=secretary, identity=identity, call_id=call.pk, version=identity.version
    )
    assert identity.status == Status.RECUP
    assert (identity.ins_matricule, identity.ins_oid) == ("297022A02077878", "1.2.250.1.213.1.4.8")  # R6
    assert transmissible_ins(identity) is None  # R28: RECUP is not enough
    identity = services.identity_check_document(
        actor=secretary, identity=identity, version=identity.version, document="CN"
    )
    assert identity.status == Status.QUAL
    assert identity.id_document == "CN" and identity.id_document_checked_by == secretary  # R19
    assert list(StatusChange.objects.filter(identity=identity).values_list("new", flat=True)) == [
        "QUAL",
        "RECUP",
        "PROV",
    ]  # R21


def test_r28_only_qual_transmits_and_real_settings_refuse_sandbox_data(make_patient, secretary, settings) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    identity = services.identity_check_document(actor=secretary, identity=identity, version=1, document="PA")
    assert identity.status == Status.VALI
    assert transmissible_ins(identity) is None
    identity = services.identity_accept_insi(
        actor=secretary, identity=identity, call_id=_found(identity).pk, version=identity.version
    )
    assert identity.status == Status.QUAL
    settings.SANDBOX = True
    ins = transmissible_ins(identity)
    assert ins is not None and ins.matricule == "297022A02077878"
    settings.SANDBOX = False
    with pytest.raises(SandboxDataError):
        transmissible_ins(identity)


def test_vali_then_insi_with_different_traits_gives_recup(make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient(birthplace_cog="").identity  # birthplace unknown locally, 2A020 at INSi
    identity = services.identity_check_document(actor=secretary, identity=identity, version=1, document="CN")
    identity = services.identity_accept_insi(
        actor=secretary, identity=identity, call_id=_found(identity).pk, version=identity.version
    )
    assert identity.status == Status.RECUP
    assert identity.birthplace_cog == "2A020"


def test_r26_strict_traits_read_only_and_r27_downgrade_by_superuser(
    make_patient, secretary, identity_superuser
) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    identity = services.identity_accept_insi(actor=secretary, identity=identity, call_id=_found(identity).pk, version=1)
    identity = services.identity_check_document(
        actor=secretary, identity=identity, version=identity.version, document="CN"
    )
    changed = clean_traits(
        {
            "birth_name": "ADRTROIS",
            "first_given_name": "DOMINIQUE",
            "birth_date": "27/02/1997",
            "sex": "F",
            "birthplace_cog": "2A020",
        }
    )
    with pytest.raises(PermissionDenied):
        services.identity_update(actor=secretary, identity=identity, version=identity.version, traits=changed)
    identity.refresh_from_db()
    assert identity.birth_date == "1997-02-26" and identity.status == Status.QUAL
    # Complementary traits stay editable (R26).
    used = clean_traits(
        {
            **{
                k: v
                for k, v in vars(identity).items()
                if k in ("birth_name", "first_given_name", "birth_given_names", "sex", "birthplace_cog")
            },
            "birth_date": "26/02/1997",
            "used_name": "MARTIN",
        }
    )
    identity = services.identity_update(actor=secretary, identity=identity, version=identity.version, traits=used)
    assert identity.used_name == "MARTIN" and identity.status == Status.QUAL
    identity = services.identity_update(
        actor=identity_superuser, identity=identity, version=identity.version, traits=changed
    )
    assert identity.status == Status.VALI  # R27: QUAL → VALI
    # Issue 6 §2: identity changes name the patient, so « Qui a consulté ce dossier » lists them (refusal included).
    updates = AuditEvent.objects.filter(action="identity.update")
    assert updates.count() == 3 and set(updates.values_list("patient_id", flat=True)) == {identity.patient.pk}


def test_optimistic_concurrency_no_lost_update(make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    stale_version = identity.version
    first = clean_traits(
        {
            "birth_name": "ADRTROIS",
            "first_given_name": "DOMINIQUE",
            "birth_date": "26/02/1997",
            "sex": "F",
            "birthplace_cog": "2A020",
            "used_name": "PREMIER",
        }
    )
    services.identity_update(actor=secretary, identity=identity, version=stale_version, traits=first)
    second = clean_traits({**vars(first), "birth_date": "26/02/1997", "used_name": "SECOND"})
    from caducee.identity.models import Identity

    other_copy = Identity.objects.get(pk=identity.pk)
    other_copy.used_name = ""
    with pytest.raises(services.ConcurrentEditError):
        services.identity_update(actor=secretary, identity=other_copy, version=stale_version, traits=second)
    identity.refresh_from_db()
    assert identity.used_name == "PREMIER"


def test_r25_doubtful_identity_is_prov_and_blocks_insi(make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    identity = services.identity_check_document(actor=secretary, identity=identity, version=1, document="CN")
    identity = services.identity_set_attributes(
        actor=secretary, identity=identity, version=identity.version, doubtful=True, fictitious=False
    )
    assert identity.status == Status.PROV
    with pytest.raises(services.IdentityError, match="règle 25"):
        services.identity_query_insi(actor=secretary, identity=identity)
    assert not InsiCall.objects.exists()


def test_r49_verification_ko_downgrades_and_removes_the_ins(make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    identity = services.identity_accept_insi(actor=secretary, identity=identity, call_id=_found(identity).pk, version=1)
    identity = services.identity_check_document(
        actor=secretary, identity=identity, version=identity.version, document="CN"
    )
    identity = services.identity_verification_ko(actor=secretary, identity=identity, reason="traits divergents")
    assert identity.status == Status.VALI
    assert identity.ins_matricule == "" and identity.ins_oid == ""
    assert VigilanceCase.objects.filter(identity=identity, kind="INVA").exists()


def test_same_ins_on_two_identities_is_refused_and_signalled(make_patient, secretary) -> None:  # type: ignore[no-untyped-def]
    first = make_patient().identity
    services.identity_accept_insi(actor=secretary, identity=first, call_id=_found(first).pk, version=1)
    second = make_patient(birth_name="ADRTROISE").identity
    with pytest.raises(services.IdentityError, match="doublon"):
        services.identity_accept_insi(actor=secretary, identity=second, call_id=_found(second).pk, version=1)
    assert VigilanceCase.objects.filter(identity=second, other=first, kind="DPOT").exists()


def test_duplicates_and_homonyms_are_detected(make_patient) -> None:  # type: ignore[no-untyped-def]
    first = make_patient().identity
    duplicate = make_patient().identity
    homonym = make_patient(birth_date="01/01/1950").identity
    assert VigilanceCase.objects.get(identity=duplicate, other=first).kind == "DPOT"
    assert VigilanceCase.objects.filter(identity=homonym, other=first, kind="HOMD").exists()


def test_document_outside_the_site_list_is_refused(make_patient, secretary, practice) -> None:  # type: ignore[no-untyped-def]
    practice.accepted_id_documents = ["PA"]
    practice.save()
    identity = make_patient().identity
    with pytest.raises(services.IdentityError):
        services.identity_check_document(actor=secretary, identity=identity, version=1, document="CN")


def test_administrator_cannot_manage_identities(make_patient, administrator) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    with pytest.raises(PermissionDenied):
        services.identity_check_document(actor=administrator, identity=identity, version=1, document="CN")


def test_r28_a_demo_practice_keeps_its_test_ins_in_documents(make_patient, secretary, practice, settings) -> None:  # type: ignore[no-untyped-def]
    identity = make_patient().identity
    identity = services.identity_check_document(actor=secretary, identity=identity, version=1, document="CN")
    identity = services.identity_accept_insi(
        actor=secretary, identity=identity, call_id=_found(identity).pk, version=identity.version
    )
    settings.SANDBOX = False
    with pytest.raises(SandboxDataError):
        transmissible_ins(identity)  # a production practice
    practice.is_sandbox = True
    practice.save()
    ins = transmissible_ins(identity)  # the demo practice: test data stays test data, never sent for real
    assert ins is not None and ins.oid == "1.2.250.1.213.1.4.8"


def test_r37_failed_calls_are_traced_with_their_kind() -> None:
    from caducee.identity.insi.client import InsiError, InsiRefusedTraits, InsiUnavailable

    assert services._error_outcome(InsiUnavailable("délai dépassé")) == "unavailable"
    assert services._error_outcome(InsiRefusedTraits("Æ")) == "traits"
    assert services._error_outcome(InsiError("illisible")) == "invalid"
