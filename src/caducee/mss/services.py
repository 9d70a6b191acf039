"""MSSanté services: send a message (documents or not) to colleagues and patients (the proposed recipients and the
addresses are read by `mss.selectors`).

Rules (issue 5 §2–3; notes §2.3–2.5):
* One patient per message (ECO.2.1.1); the documents are the patient's stored ones (principle 2).
* MSS Citoyenne: a patient's address is `<matricule INS>@patient.mssante.fr`, built from a QUAL identity only
  (SC.MSS.14 via R28 `transmissible_ins`); any address in `patient.mssante.fr` must be that of the message's own
  patient with a QUAL identity — a message to another or to an unqualified patient is refused before anything is
  written. The professional always starts the conversation (a message from here is always allowed to a QUAL
  patient); "Mettre fin aux échanges" sends `X-MSS-MES: FIN` (CONF.21), for a message to the patient only.
* Sending is asynchronous and durable: `mss_send` writes the OutboundMessage, its recipients and the outbox delivery
  (channel "mss", action "send", key = the Message-ID fixed now) in one transaction; `caducee.mss.handler` submits
  it. A resend after a crash carries the same Message-ID.
* Sending needs CLINICAL_WRITE (PermissionDenied otherwise); every send and refusal is audited with the patient.
* The test message to the test citizen mailbox (`settings.MSS_PATIENT_TEST_ADDRESS`) proves the set-up
  ("Prestation Ségur"), in one click.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Practice, User
from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.core.dates import french_datetime
from caducee.core.models import AuditEvent
from caducee.core.outbox import delivery_enqueue
from caducee.documents.models import Document
from caducee.identity.models import Identity
from caducee.mss.compose import (
    REPLACES_PREFIX,
    ComposeError,
    document_parts,
    document_subject,
    is_patient_address,
    new_message_id,
    patient_label,
    submission_for,
)
from caducee.mss.models import Mailbox, MailboxKind, OutboundMessage, OutboundRecipient
from caducee.mss.selectors import mailbox_for, patient_mss_address
from caducee.patients.models import Patient

CHANNEL = "mss"
ACTION_SEND = "send"
ACTION_MDN = "mdn"


SUBJECT_MAX = 200  # the subject typed on the form (the column holds 500 with the prefixes)


class MssServiceError(Exception):
    """A refused send; the message is French and shown as it is."""


def mailbox_declare(
    *,
    actor: Any,
    address: str,
    kind: str = MailboxKind.PER,
    owner: User | None = None,
    display_name: str = "",
    active: bool = True,
    request: HttpRequest | None = None,
) -> Mailbox:
    """Declare (or update) a mailbox the practice uses: a professional's PER box (its owner), the practice's ORG box, an
    APP box (certificate + PLAIN, SC.MSS/CONF.12). `actor` None = the command line (`caducee mss boite`), else an
    administrator (Perm.PRACTICE_MANAGE). Audited."""
    if actor is not None:
        check_permission(actor, Perm.PRACTICE_MANAGE)
    address = address.strip().lower()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise MssServiceError(f"« {address} » n'est pas une adresse de messagerie valide.") from exc
    if is_patient_address(address):
        raise MssServiceError("Une adresse @patient.mssante.fr est celle d'un patient, pas une boîte du cabinet.")
    if kind not in MailboxKind.values:
        raise MssServiceError(f"Type de boîte inconnu : {kind} (PER, ORG, APP ou CAB).")
    if kind == MailboxKind.PER and owner is None:
        raise MssServiceError("Une boîte personnelle (PER) appartient à un professionnel : indiquez son utilisateur.")
    mailbox, created = Mailbox.objects.update_or_create(
        address=address,
        defaults={
            "kind": kind,
            "owner": owner if kind == MailboxKind.PER else None,
            "display_name": display_name or (owner.display_name() if owner is not None else ""),
            "is_active": active,
        },
    )
    audit_record(
        actor=actor,
        action="mss.mailbox.declare",
        object_type="mailbox",
        object_id=mailbox.pk,
        detail={"address": address, "kind": kind, "created": created, "active": active},
        request=request,
    )
    return mailbox


# --- sending ----------------------------------------------------------------------------------------------------


def _audit(
    actor: Any,
    action: str,
    patient_id: int | None,
    *,
    outcome: str = AuditEvent.Outcome.OK,
    object_id: object = "",
    request: HttpRequest | None = None,
    **detail: Any,
) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="mss_message",
        object_id=object_id,
        patient_id=patient_id,
        outcome=outcome,
        detail=detail,
        request=request,
    )


def _clean_addresses(addresses: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in addresses:
        address = (raw or "").strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError as exc:
            raise MssServiceError(f"Adresse de messagerie invalide : « {address} ».") from exc
        if address.lower() not in (a.lower() for a in cleaned):
            cleaned.append(address)
    return cleaned


def _default_body(documents: Sequence[Document], replaces: OutboundMessage | None, sender: str) -> str:
    lines = ["Bonjour,", ""]
    if documents:
        titles = ", ".join(d.title for d in documents)
        lines.append(f"Veuillez trouver ci-joint : {titles}.")
    if replaces is not None:
        lines.append(f"Ce message annule et remplace celui du {french_datetime(replaces.created_at)}.")
    lines += ["", "Bien cordialement,", sender]
    return "\n".join(lines)


def _refuse(actor: Any, patient: Patient | None, reason: str, request: HttpRequest | None) -> MssServiceError:
    _audit(
        actor,
        "mss.send",
        patient.pk if patient else None,
        outcome=AuditEvent.Outcome.REFUSED,
        request=request,
        reason=reason,
    )
    return MssServiceError(reason)


def mss_send(
    *,
    actor: Any,
    patient: Patient | None,
    documents: Sequence[Document] = (),
    recipients: Sequence[str],
    body: str = "",
    to_patient: bool = False,
    end_conversation: bool = False,
    replaces: OutboundMessage | None = None,
    mailbox: Mailbox | None = None,
    subject: str = "",
    request: HttpRequest | None = None,
) -> OutboundMessage:
    """Queue a message (see the module docstring); returns the OutboundMessage (state "queued").

    `recipients`: addresses; `to_patient` adds the patient's own address (QUAL only). `replaces`: the message whose
    documents this one corrects ("Annule et remplace"). `subject` is used only without documents (with documents the
    subject is the `XDM/1.0/DDM+…` one). Raises MssServiceError (French) or PermissionDenied.
    """
    check_permission(actor, Perm.CLINICAL_WRITE)
    return _send(
        actor=actor,
        patient=patient,
        documents=list(documents),
        recipients=recipients,
        body=body,
        to_patient=to_patient,
        end_conversation=end_conversation,
        replaces=replaces,
        mailbox=mailbox,
        subject=subject,
        request=request,
    )


def _send(
    *,
    actor: Any,
    patient: Patient | None,
    documents: list[Document],
    recipients: Sequence[str],
    body: str,
    to_patient: bool,
    end_conversation: bool,
    replaces: OutboundMessage | None,
    mailbox: Mailbox | None,
    subject: str,
    request: HttpRequest | None,
    test_address: str = "",
) -> OutboundMessage:
    mailbox = mailbox or mailbox_for(actor)
    if mailbox is None or not mailbox.is_active:
        raise _refuse(actor, patient, "Aucune boîte MSSanté n'est configurée pour vous ni pour le cabinet.", request)
    if mailbox.kind == MailboxKind.PER and mailbox.owner_id != getattr(actor, "pk", None):
        raise _refuse(actor, patient, "Une boîte MSSanté personnelle n'est utilisée que par son titulaire.", request)
    if documents and patient is None:
        raise _refuse(actor, patient, "Un document est envoyé dans le message de son patient.", request)
    if any(d.patient_id != (patient.pk if patient else None) for d in documents):
        raise _refuse(actor, patient, "Un message MSSanté ne concerne qu'un seul patient (ECO.2.1.1).", request)
    addresses = _clean_addresses(recipients)
    own_patient = patient_mss_address(patient.identity) if patient is not None else None
    if to_patient:
        if own_patient is None:
            raise _refuse(
                actor,
                patient,
                "L'identité du patient n'est pas qualifiée (statut QUAL) : aucun message ne peut lui être envoyé "
                "par sa messagerie Mon espace santé (SC.MSS.14).",
                request,
            )
        if own_patient.lower() not in (a.lower() for a in addresses):
            addresses.append(own_patient)
    for address in addresses:
        if is_patient_address(address) and address.lower() != (own_patient or "").lower():
            if test_address and address.lower() == test_address.lower():
                continue
            raise _refuse(
                actor,
                patient,
                f"« {address} » n'est pas l'adresse Mon espace santé de ce patient à l'identité qualifiée : "
                "un message n'est adressé qu'au patient concerné, avec une INS qualifiée (SC.MSS.14).",
                request,
            )
    patient_recipients = [a for a in addresses if is_patient_address(a)]
    if end_conversation and not patient_recipients:
        raise _refuse(actor, patient, "« Mettre fin aux échanges » ne concerne qu'un message au patient.", request)
    if not addresses:
        raise _refuse(actor, patient, "Choisissez au moins un destinataire.", request)

    identity = patient.identity if patient is not None else None
    if documents:
        try:  # the documents are checked now: the user learns at once what cannot travel
            document_parts(
                documents,
                identity,
                submission=submission_for(unique_id="0", source_id="0", moment=timezone.now(), title=""),
            )
        except ComposeError as exc:
            raise _refuse(actor, patient, str(exc), request) from exc
        assert identity is not None
        final_subject = document_subject(identity, documents)
    else:
        # One line (a newline would be a header injection); the form's length (issue 13 §3: a subject field).
        final_subject = " ".join(subject.split()) or "Message de votre professionnel de santé"
        if len(final_subject) > SUBJECT_MAX:
            raise _refuse(actor, patient, f"L'objet dépasse {SUBJECT_MAX} caractères : raccourcissez-le.", request)
    in_reply_to, references = "", ""
    if replaces is not None:
        final_subject = REPLACES_PREFIX + final_subject
        in_reply_to = replaces.message_id
        references = " ".join([*replaces.references.split(), replaces.message_id])
    sender_name = actor.display_name() if isinstance(actor, User) else mailbox.display_name
    text = body.strip() or _default_body(documents, replaces, sender_name)
    names = _recipient_names(addresses, identity)

    with transaction.atomic():
        message = OutboundMessage.objects.create(
            mailbox=mailbox,
            author=actor if isinstance(actor, User) else None,
            patient=patient,
            message_id=new_message_id(mailbox.address),
            in_reply_to=in_reply_to,
            references=references,
            subject=final_subject[:500],
            body_text=text,
            to_patient=bool(patient_recipients),
            ends_conversation=end_conversation,
            replaces=replaces,
        )
        if documents:
            message.documents.set(documents)
        OutboundRecipient.objects.bulk_create(
            [OutboundRecipient(message=message, address=a, display_name=names.get(a, "")) for a in addresses]
        )
        message.delivery = delivery_enqueue(
            channel=CHANNEL,
            document=documents[0] if documents else None,
            action=ACTION_SEND,
            unique_id=message.message_id,
            payload={"message": message.pk},
        )
        message.save(update_fields=["delivery"])
        _audit(
            actor,
            "mss.send",
            patient.pk if patient else None,
            object_id=message.pk,
            request=request,
            message_id=message.message_id,
            recipients=addresses,
            documents=[d.unique_id for d in documents],
            to_patient=message.to_patient,
            ends_conversation=end_conversation,
            replaces=replaces.message_id if replaces else "",
        )
    return message


def _recipient_names(addresses: Sequence[str], identity: Identity | None) -> dict[str, str]:
    """Display names for the To: header: the patient's traits, the address book's or the practice's names."""
    from caducee.patients.models import Correspondent

    names: dict[str, str] = {}
    for c in Correspondent.objects.filter(mss_address__in=addresses):
        names[c.mss_address] = str(c)
    for box in Mailbox.objects.filter(address__in=addresses).select_related("owner"):
        owner = box.owner
        names.setdefault(box.address, owner.display_name() if owner is not None else box.display_name)
    for address in addresses:
        if is_patient_address(address) and identity is not None:
            names.setdefault(address, patient_label(identity))
    return names


END_SUBJECT = "Fin de la conversation"
END_BODY = (
    "Bonjour,\n\nCette conversation est close : vous ne pouvez plus répondre à ce message. Pour une nouvelle "
    "question, contactez le cabinet.\n\n{sender}"
)


def mss_conversation_end(
    *, actor: Any, patient: Patient, body: str = "", request: HttpRequest | None = None
) -> OutboundMessage:
    """« Mettre fin à la conversation » with the patient, as its own action (issue 13 §3): a short message to the
    patient's Mon espace santé mailbox carrying `X-MSS-MES: FIN` (SC.MSS/CONF.21 = ECO.2.2.8), after which the patient
    can no longer answer; only a professional starts a new conversation (notes §2.5). QUAL identity only (SC.MSS.14)."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    sender = actor.display_name() if isinstance(actor, User) else ""
    return _send(
        actor=actor,
        patient=patient,
        documents=[],
        recipients=[],
        body=body.strip() or END_BODY.format(sender=sender).strip(),
        to_patient=True,
        end_conversation=True,
        replaces=None,
        mailbox=None,
        subject=END_SUBJECT,
        request=request,
    )


def mss_send_test_message(*, actor: Any, request: HttpRequest | None = None) -> OutboundMessage:
    """The one-click test message to the test citizen mailbox (settings.MSS_PATIENT_TEST_ADDRESS, issue 5 §3)."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    address = settings.MSS_PATIENT_TEST_ADDRESS
    if not address:
        raise MssServiceError("Aucune adresse de test Mon espace santé n'est configurée.")
    practice = Practice.objects.first()
    body = (
        "Bonjour,\n\nCeci est un message de test envoyé par le logiciel "
        f"{settings.SOFTWARE_NAME} pour vérifier la messagerie sécurisée de santé"
        f"{' du cabinet ' + practice.name if practice else ''}.\n\nMerci de ne pas y répondre."
    )
    return _send(
        actor=actor,
        patient=None,
        documents=[],
        recipients=[address],
        body=body,
        to_patient=False,
        end_conversation=False,
        replaces=None,
        mailbox=None,
        subject="Message de test MSSanté",
        request=request,
        test_address=address,
    )
