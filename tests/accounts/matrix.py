"""The role matrix of issue 6 §2 as data: for every URL name of the application, which roles may open its screen
(GET) and which may run its action (POST), what the allowed answer is, and what an allowed POST sends.

`tests/accounts/test_role_matrix.py` drives it; `world()` builds one object of each kind the URLs take, so that
every allowed action really does something (and a refused one is seen changing nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from caducee.accounts.models import Practice, Replacement, Role, User
from caducee.documents.models import Document, LetterTemplate
from caducee.identity.models import InsiCall, VigilanceCase
from caducee.mss.intake import ingest_bytes
from caducee.mss.models import InboundMessage, Mailbox, MailboxKind, ReceivedDocument
from caducee.patients.models import Patient
from caducee.record.consultations import consultation_open
from caducee.record.models import Consultation, LongTermTreatment, Problem
from tests.conftest import PASSWORD

ALL = frozenset(Role)
FRONT_DESK = frozenset({Role.MEDECIN, Role.REMPLACANT, Role.INTERNE, Role.PARAMEDICAL, Role.ASSISTANT, Role.SECRETAIRE})
CLINICAL = FRONT_DESK - {Role.SECRETAIRE}
WRITERS = frozenset({Role.MEDECIN, Role.REMPLACANT, Role.INTERNE})
SENIORS = frozenset({Role.MEDECIN, Role.REMPLACANT})
ADMIN = frozenset({Role.ADMINISTRATEUR})
NOBODY: frozenset[Role] = frozenset()
PSC_FLOW = (302,)  # a login-flow step out of its flow: on to PSC, or back to the login page with the reason

ORG_BOX = "cabinet@test.mssante.fr"
NEW_PASSWORD = "Un-autre-mot-de-passe-2027!"
SENDER = "anne.leroy@demo.mssante.fr"


@dataclass
class World:
    """One of each object the URLs name, for one patient (QUAL, so the DMP and MSSanté paths run)."""

    practice: Practice
    doctor: User
    patient: Patient
    insi_call: InsiCall
    vigilance_case: VigilanceCase
    problem: Problem
    treatment: LongTermTreatment
    consultation: Consultation
    document: Document  # confidentiality N, authored by the doctor
    restricted: Document  # confidentiality R, authored by the doctor
    dmp_entry: Any
    delivery: Any
    message: InboundMessage
    received: ReceivedDocument
    template: LetterTemplate
    free_remplacant: User  # may be chosen on « Remplacement »
    replacement: Any  # open: another médecin replaced by another remplaçant


def world(*, practice: Practice, doctor: User, make_patient: Callable[..., Patient]) -> World:
    from caducee.core.models import Delivery
    from caducee.dmp.models import DmpConsent, DmpEntry
    from tests.dmp.fake_dmp import store_n1
    from tests.documents.cda_records import qualify
    from tests.mss import hostile

    doctor.first_name = "Claire"
    doctor.save(update_fields=["first_name"])
    patient = make_patient()
    # A message whose document waits in the work list: received while the identity was still PROV (no INS in it).
    box = Mailbox.objects.create(address=ORG_BOX, kind=MailboxKind.ORG, display_name="Cabinet")
    cda = hostile.vsm_cda(practice, doctor, patient)
    raw = hostile.mail(
        attachments=[("IHE_XDM.zip", hostile.xdm_of(cda, with_ins=False), "a/z")], sender=SENDER, to=ORG_BOX
    )
    message = ingest_bytes(raw, source="imap", mailbox=box, uid_validity=1, uid=1)
    received = message.documents.get()
    assert received.state == ReceivedDocument.State.WORKLIST, received.reason
    patient = qualify(patient)
    identity = patient.identity
    insi_call = InsiCall.objects.create(
        identity=identity,
        operation=InsiCall.Operation.TRAITS,
        endpoint="https://insi.invalid/",
        outcome=InsiCall.Outcome.FOUND,
        result={
            "matricule": "2970220200123",
            "key": "45",
            "oid": "1.2.250.1.213.1.4.10",
            "birth_name": identity.birth_name,
            "given_names": identity.first_given_name,
            "first_given_name": identity.first_given_name,
            "birth_date": identity.birth_date,
            "sex": identity.sex,
            "birthplace_cog": identity.birthplace_cog,
        },
    )
    vigilance_case = VigilanceCase.objects.create(kind=VigilanceCase.Kind.HOMONYM, identity=identity, detail="test")
    problem = Problem.objects.create(patient=patient, created_by=doctor, label="Asthme", cim10_code="J45")
    treatment = LongTermTreatment.objects.create(patient=patient, created_by=doctor, drug_label="Salbutamol")
    consultation = consultation_open(actor=doctor, patient=patient)
    DmpConsent.objects.create(patient=patient, consult_consent=True)
    document = store_n1(practice=practice, author=doctor, patient=patient, title="Lettre ordinaire")
    restricted = store_n1(practice=practice, author=doctor, patient=patient, title="Compte rendu confidentiel")
    Document.objects.filter(pk=restricted.pk).update(confidentiality=Document.Confidentiality.RESTRICTED)
    restricted.refresh_from_db()
    dmp_entry = DmpEntry.objects.create(
        patient=patient,
        entry_uuid="urn:uuid:5f1c8c4e-0000-4000-8000-000000000001",
        unique_id=document.unique_id,
        status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
        title="Lettre ordinaire",
        type_code="11488-4",
        type_code_system="2.16.840.1.113883.6.1",
        author_national_id=doctor.national_id,
        creation_time=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        local_document=document,
    )
    delivery = Delivery.objects.create(
        channel="dmp",
        action="feed",
        document_unique_id=document.unique_id,
        document_ref=document.unique_id,
        patient_id=document.patient_id,
        state=Delivery.State.FAILED,
        last_error="indisponible",
    )
    template = LetterTemplate.objects.filter(is_active=True).order_by("pk").first()
    assert template is not None
    absent = User.objects.create_user(username="dr.absent", role=Role.MEDECIN, last_name="ABSENT", rpps="89970088001")
    busy = User.objects.create_user(username="rempl.a", role=Role.REMPLACANT, last_name="REMPLA", rpps="89970088002")
    free = User.objects.create_user(username="rempl.b", role=Role.REMPLACANT, last_name="REMPLB", rpps="89970088003")
    replacement = Replacement.objects.create(replaced=absent, remplacant=busy, opened_by=absent)
    return World(
        practice=practice,
        doctor=doctor,
        patient=patient,
        insi_call=insi_call,
        vigilance_case=vigilance_case,
        problem=problem,
        treatment=treatment,
        consultation=consultation,
        document=document,
        restricted=restricted,
        dmp_entry=dmp_entry,
        delivery=delivery,
        message=message,
        received=received,
        template=template,
        free_remplacant=free,
        replacement=replacement,
    )


Kwargs = Callable[[World], dict[str, Any]]
Data = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Url:
    """One URL name of the matrix.

    - `get`: the roles whose GET is answered `get_ok`; every other role gets `refused` (403). None: the URL has no
      screen (POST only): GET is 405 for everyone.
    - `post`: the roles whose POST (with `data`) succeeds — answered `post_ok` and changing something (`effect`);
      every other role gets 403 and nothing changes. None: nothing to post (a screen only, or a POST that changes
      nothing), not tested as an action.
    - `patient_scoped`: the GET reads one patient's record: it must leave an audit row naming that patient.
    """

    kwargs: Kwargs = lambda w: {}
    query: Callable[[World], str] = lambda w: ""
    get: frozenset[Role] | None = None
    get_ok: tuple[int, ...] = (200,)
    post: frozenset[Role] | None = None
    data: Data = lambda w: {}
    post_ok: tuple[int, ...] = (302,)
    effect: bool = True
    patient_scoped: bool = False
    note: str = field(default="", compare=False)


def _patient(w: World) -> dict[str, Any]:
    return {"patient_id": w.patient.pk}


def _identity(w: World) -> dict[str, Any]:
    return {"identity_id": w.patient.identity.pk}


def _version(w: World) -> dict[str, Any]:
    w.patient.identity.refresh_from_db()
    return {"version": w.patient.identity.version}


def _traits_changed(w: World) -> dict[str, Any]:
    i = w.patient.identity
    return {
        **_version(w),
        "birth_name": i.birth_name,
        "birth_given_names": i.birth_given_names,
        "first_given_name": i.first_given_name,
        "birth_date": i.birth_date_display,
        "sex": i.sex,
        "birthplace_cog": i.birthplace_cog,
        "used_name": "NOUVEAUNOM",
        "used_given_name": "",
    }


def _card(w: World) -> dict[str, Any]:
    """The version of the patient's administrative card, as its forms carry it."""
    return {"version": Patient.objects.values_list("version", flat=True).get(pk=w.patient.pk)}


def _directory_entry() -> Any:
    from caducee.mss.models import DirectoryEntry

    entry, _ = DirectoryEntry.objects.get_or_create(
        address=SENDER, defaults={"family_name": "LEROY", "given_name": "Anne", "search_name": "LEROYANNE"}
    )
    return entry


def _care_link(w: World) -> int:
    from caducee.patients.models import Correspondent, PatientCorrespondent

    correspondent, _ = Correspondent.objects.get_or_create(mss_address="matrice@x.mssante.fr", family_name="MATRICE")
    link, _ = PatientCorrespondent.objects.get_or_create(patient=w.patient, correspondent=correspondent, role="autre")
    return link.pk


NEW_PATIENT = {
    "birth_name": "MATRICE",
    "first_given_name": "CAMILLE",
    "birth_given_names": "CAMILLE",
    "birth_date": "01/03/1980",
    "sex": "F",
    "birthplace_cog": "75056",
}

# Every URL name of the application. A new URL without an entry here fails test_every_url_is_in_the_matrix.
MATRIX: dict[str, Url] = {
    # --- patients (front desk) -----------------------------------------------------------------------------------
    "patients:list": Url(get=FRONT_DESK),
    "patients:new": Url(get=FRONT_DESK),
    "patients:new_vitale": Url(get=FRONT_DESK, get_ok=(200, 302), note="302 without a card reader"),
    "patients:new_form": Url(get=FRONT_DESK, post=FRONT_DESK, data=lambda w: dict(NEW_PATIENT)),
    "patients:chart": Url(_patient, get=FRONT_DESK, patient_scoped=True),
    # Issue 13 §1: the administrative card (contact data, médecin traitant) and the care team.
    "patients:contact_edit": Url(
        _patient, get=FRONT_DESK, post=FRONT_DESK, data=lambda w: {**_card(w), "city": "MATRICE"}, patient_scoped=True
    ),
    "patients:medecin_traitant_edit": Url(
        _patient,
        get=FRONT_DESK,
        post=FRONT_DESK,
        data=lambda w: {**_card(w), "choice": f"u{w.doctor.pk}"},
        patient_scoped=True,
    ),
    "patients:care_team_directory": Url(
        _patient,
        query=lambda w: "?q=ler",
        get=FRONT_DESK,
        post=FRONT_DESK,
        data=lambda w: {"entree": _directory_entry().pk, "role": "specialiste"},
        patient_scoped=True,
    ),
    "patients:care_team_remove": Url(lambda w: {"patient_id": w.patient.pk, "link_id": _care_link(w)}, post=FRONT_DESK),
    # --- accounts ------------------------------------------------------------------------------------------------
    "accounts:login": Url(get=ALL),
    "accounts:logout": Url(post=ALL, effect=False, note="ends the session: no row changes"),
    "accounts:audit": Url(get=ADMIN),
    "accounts:audit_export": Url(get=ADMIN),
    "accounts:audit_patient": Url(_patient, get=ADMIN),
    "accounts:practice": Url(get=ADMIN, post=ADMIN, data=lambda w: {"documents": ["PA", "CS"], "summary_model": "ips"}),
    "replacement:page": Url(
        get=SENIORS | ADMIN,
        post=frozenset({Role.MEDECIN}),
        data=lambda w: {"remplacant": w.free_remplacant.pk},
        note="a médecin opens a replacement for himself (accounts/replacement.py)",
    ),
    "replacement:end": Url(
        lambda w: {"replacement_id": w.replacement.pk},
        post=ADMIN,
        note="the administrator, or the replaced médecin himself (tests/accounts/test_replacement.py)",
    ),
    "security:login_code": Url(get=ALL, get_ok=(302,), note="no login pending: back to the login page"),
    "security:account": Url(
        get=ALL,
        post=ALL,
        effect=True,
        data=lambda w: {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirmation": NEW_PASSWORD},
        note="one's own password: nobody is refused",
    ),
    "security:totp_enrol": Url(get=ALL, note="one's own second factor (the POST needs a code: test_hardening.py)"),
    "security:totp_disable": Url(
        post=ALL, data=lambda w: {"password": "faux"}, effect=False, note="one's own second factor, password asked"
    ),
    "security:totp_disable_for": Url(lambda w: {"user_id": w.doctor.pk}, post=ADMIN),
    # Pro Santé Connect: the login flow, open to anyone and the same for every role (each step checks the state it
    # needs itself: tests/accounts/test_psc_login.py); out of its flow each step redirects (to PSC or to the login).
    "psc:start": Url(get=ALL, get_ok=PSC_FLOW),
    "psc:callback": Url(get=ALL, get_ok=PSC_FLOW),
    "psc:link": Url(get=ALL, get_ok=PSC_FLOW),
    "psc:situation": Url(get=ALL, get_ok=PSC_FLOW),
    "psc:logged_out": Url(get=ALL, get_ok=PSC_FLOW),
    # --- identity (front desk) -----------------------------------------------------------------------------------
    "identity:insi": Url(_identity, post=FRONT_DESK, note="the call is traced (InsiCall) even when INSi is away"),
    "identity:insi_result": Url(
        lambda w: {**_identity(w), "call_id": w.insi_call.pk}, get=FRONT_DESK, patient_scoped=True
    ),
    "identity:insi_accept": Url(lambda w: {**_identity(w), "call_id": w.insi_call.pk}, post=FRONT_DESK, data=_version),
    "identity:document": Url(
        _identity, post=FRONT_DESK, data=lambda w: {**_version(w), "checked": "1", "document": "PA"}
    ),
    "identity:edit": Url(_identity, get=FRONT_DESK, post=FRONT_DESK, data=_traits_changed, patient_scoped=True),
    "identity:attributes": Url(_identity, post=FRONT_DESK, data=lambda w: {**_version(w), "doubtful": "1"}),
    "identity:vigilance": Url(get=FRONT_DESK),
    "identity:birthplace_search": Url(
        get=FRONT_DESK, query=lambda w: "?q=lyon", note="issue 13 §1: JSON for the forms"
    ),
    "identity:vigilance_close": Url(
        lambda w: {"case_id": w.vigilance_case.pk}, post=FRONT_DESK, data=lambda w: {"resolution": "Traité"}
    ),
    # --- structured record (clinical) ----------------------------------------------------------------------------
    "record:terminology": Url(get=CLINICAL, query=lambda w: "?systeme=cim10&q=asthme"),
    "record:page": Url(_patient, get=CLINICAL, patient_scoped=True),
    "record:changes": Url(_patient, get=CLINICAL, patient_scoped=True),
    "record:allergy_statement": Url(_patient, post=WRITERS, data=lambda w: {"none_known": "1"}),
    "record:problem_resolve": Url(lambda w: {**_patient(w), "entry_id": w.problem.pk}, post=WRITERS),
    "record:treatment_stop": Url(lambda w: {**_patient(w), "entry_id": w.treatment.pk}, post=WRITERS),
    "record:add": Url(
        lambda w: {**_patient(w), "kind": "probleme"},
        post=WRITERS,
        data=lambda w: {"label": "Migraine", "status": "active"},
    ),
    "record:delete": Url(lambda w: {**_patient(w), "kind": "probleme", "entry_id": w.problem.pk}, post=WRITERS),
    "record_edit:edit": Url(
        lambda w: {**_patient(w), "kind": "probleme", "entry_id": w.problem.pk},
        get=WRITERS,
        post=WRITERS,
        data=lambda w: {"label": "Asthme allergique", "cim10_code": "J45", "status": "active"},
        patient_scoped=True,
    ),
    # --- consultations -------------------------------------------------------------------------------------------
    "consultations:new": Url(_patient, post=WRITERS),
    "consultations:detail": Url(lambda w: {"consultation_id": w.consultation.pk}, get=CLINICAL, patient_scoped=True),
    "consultations:submit": Url(
        lambda w: {"consultation_id": w.consultation.pk},
        post=WRITERS,
        data=lambda w: {"version": w.consultation.version, "motif": "Toux", "action": "save"},
    ),
    # Issue 13 §2: the author deletes his empty draft (a writer who is not the author is answered 302 with the reason).
    "consultations:delete": Url(lambda w: {"consultation_id": w.consultation.pk}, post=WRITERS),
    "consultations:pdf": Url(lambda w: {"consultation_id": w.consultation.pk}, get=CLINICAL, patient_scoped=True),
    # --- documents -----------------------------------------------------------------------------------------------
    "documents:list": Url(_patient, get=CLINICAL, patient_scoped=True),
    "documents:vsm": Url(_patient, post=WRITERS),
    "documents:detail": Url(lambda w: {"document_id": w.document.pk}, get=CLINICAL, patient_scoped=True),
    # Issue 13 §2: importing a paper or received document (PDF or scan) into the chart.
    "documents:import": Url(
        _patient,
        get=WRITERS,
        post=WRITERS,
        data=lambda w: {
            "type": "courrier",
            "date": "2026-01-05",
            "origine": "CHU",
            "fichiers": SimpleUploadedFile("c.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf"),
        },
    ),
    "documents:pdf": Url(lambda w: {"document_id": w.document.pk}, get=CLINICAL, patient_scoped=True),
    "documents:cda": Url(lambda w: {"document_id": w.document.pk}, get=CLINICAL, patient_scoped=True),
    "letters:new": Url(_patient, get=WRITERS, patient_scoped=True),
    "letters:write": Url(
        _patient,
        query=lambda w: f"?modele={w.template.pk}",
        get=WRITERS,
        post=WRITERS,
        data=lambda w: {"modele": w.template.pk, "correspondant": "Dr LEROY", "texte": "Cher confrère,\n\nMerci."},
        patient_scoped=True,
    ),
    "deliveries:list": Url(get=CLINICAL),
    "deliveries:resend": Url(lambda w: {"delivery_id": w.delivery.pk}, post=WRITERS),
    # --- DMP -----------------------------------------------------------------------------------------------------
    "dmp:panel": Url(_patient, get=CLINICAL, patient_scoped=True),
    "dmp:query": Url(_patient, post=CLINICAL, note="TD0.2: a read; the attempt is audited even with no DMP reachable"),
    "dmp:consent": Url(_patient, post=WRITERS, data=lambda w: {"consult_consent": "1"}),
    "dmp:entry": Url(
        lambda w: {"entry_id": w.dmp_entry.pk},
        get=CLINICAL,
        get_ok=(200, 302),
        patient_scoped=True,
        note="302 back to the tab when the DMP refuses (an assistant has no RPPS/ADELI to call it with)",
    ),
    "dmp:entry_pdf": Url(
        lambda w: {"entry_id": w.dmp_entry.pk},
        get=CLINICAL,
        get_ok=(200, 502),
        patient_scoped=True,
        note="502 when the DMP refuses (an assistant has no RPPS/ADELI to call it with)",
    ),
    "dmp:visibility": Url(
        lambda w: {"entry_id": w.dmp_entry.pk}, post=WRITERS, data=lambda w: {"visibility": "MASQUE_PS"}
    ),
    "dmp:delete": Url(lambda w: {"entry_id": w.dmp_entry.pk}, post=WRITERS),
    "dmp:archive": Url(lambda w: {"entry_id": w.dmp_entry.pk}, post=WRITERS),
    "dmp:send": Url(lambda w: {"document_id": w.document.pk}, post=WRITERS),
    # --- MSSanté -------------------------------------------------------------------------------------------------
    "mss:inbox": Url(get=CLINICAL),
    "mss:message": Url(lambda w: {"message_id": w.message.pk}, get=CLINICAL),
    "mss:add_correspondent": Url(
        lambda w: {"message_id": w.message.pk}, post=WRITERS, data=lambda w: {"patient": w.patient.pk}
    ),
    "mss:worklist": Url(get=CLINICAL),
    "mss:attach": Url(lambda w: {"received_id": w.received.pk}, post=WRITERS, data=lambda w: {"patient": w.patient.pk}),
    "mss:sent": Url(get=CLINICAL),
    "mss:compose": Url(
        query=lambda w: f"?patient={w.patient.pk}",
        get=WRITERS,
        post=WRITERS,
        data=lambda w: {"patient": w.patient.pk, "document": w.document.pk, "destinataire": SENDER, "envoyer": "1"},
        patient_scoped=True,
    ),
    "mss:conversation": Url(  # issue 13 §3: the conversation with the patient (Mon espace santé)
        lambda w: {"patient_id": w.patient.pk},
        get=CLINICAL,
        post=WRITERS,
        data=lambda w: {"objet": "Rendez-vous", "corps": "Bonjour"},
        patient_scoped=True,
    ),
    "mss:conversation_end": Url(lambda w: {"patient_id": w.patient.pk}, post=WRITERS),
    "mss:test": Url(post=WRITERS),
    "mss:sync": Url(post=CLINICAL, effect=False, note="a read of the user's mailboxes (none reachable here)"),
    "mss:mailboxes": Url(
        get=ADMIN,
        post=ADMIN,
        data=lambda w: {"adresse": "accueil@test.mssante.fr", "type": "ORG", "nom": "Accueil", "active": "1"},
    ),
}
