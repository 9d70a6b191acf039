"""Consultations as data: open, save, delete an empty draft, and the state change of validation (issue 3 §2).

Who may change a draft (issue 13 §2): its author; and, while a replacement of the author is open, the author's
remplaçant (`accounts.replacement`), who finishes the replaced doctor's drafts — audited with the replacement named.
Anyone else is refused, with the author's name in the message and a "refused" audit row: a consultation is the
author's clinical act (signed by him in the VSM and the letters), and a colleague silently rewriting it would leave a
record nobody can attribute. A colleague who takes over opens his own consultation. Only the author deletes, and only
an empty draft (nothing typed, no document produced): a consultation with content is kept, like every record entry.

The one-click validation that produces documents and shares them (VSM, DMP, MSSanté) composes several apps: it is
the top floor's use case, `caducee.cabinet.consultations.consultation_validate`, which calls
`consultation_mark_validated` here in its transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.accounts.replacement import open_replacement_for
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent
from caducee.patients.models import Patient
from caducee.record.models import Consultation


class ConsultationError(Exception):
    """A refused consultation operation; the message is for the doctor, in French."""


TEXT_FIELDS = ("motif", "observation", "examination", "conclusion")


def consultation_editor_basis(actor: Any, consultation: Consultation) -> dict[str, Any] | None:
    """Why `actor` may change this draft: {} for its author, {"replacement": id, "for_author": id} for the author's
    remplaçant during an open replacement; None when he may not (issue 13 §2)."""
    if actor.pk == consultation.author_id:
        return {}
    replacement = open_replacement_for(actor)
    if replacement is not None and replacement.replaced_id == consultation.author_id:
        return {"replacement": replacement.pk, "for_author": consultation.author_id}
    return None


def consultation_is_empty(consultation: Consultation) -> bool:
    """A draft with nothing typed and no document produced from it."""
    return (
        consultation.state == Consultation.State.OPEN
        and not any((getattr(consultation, name) or "").strip() for name in TEXT_FIELDS)
        and not consultation.documents.exists()
    )


def _check_editor(actor: Any, consultation: Consultation, action: str, request: HttpRequest | None) -> dict[str, Any]:
    basis = consultation_editor_basis(actor, consultation)
    if basis is None:
        audit_record(
            actor=actor,
            action=action,
            object_type="consultation",
            object_id=consultation.pk,
            patient_id=consultation.patient_id,
            outcome=AuditEvent.Outcome.REFUSED,
            detail={"reason": "not_author", "author": consultation.author_id},
            request=request,
        )
        raise ConsultationError(
            f"Brouillon de {consultation.author.display_name()} : seul son auteur (ou son remplaçant pendant un "
            "remplacement) peut le modifier. Ouvrez votre propre consultation."
        )
    return basis


def consultation_open(*, actor: Any, patient: Patient, request: HttpRequest | None = None) -> Consultation:
    check_permission(actor, Perm.CLINICAL_WRITE)
    consultation = Consultation.objects.create(patient=patient, author=actor)
    audit_record(
        actor=actor,
        action="consultation.open",
        object_type="consultation",
        object_id=consultation.pk,
        patient_id=patient.pk,
        request=request,
    )
    return consultation


def consultation_save(
    *, actor: Any, consultation: Consultation, version: int, fields: dict[str, str], request: HttpRequest | None = None
) -> Consultation:
    check_permission(actor, Perm.CLINICAL_WRITE)
    if consultation.state == Consultation.State.VALIDATED:
        raise ConsultationError("Consultation déjà validée : elle n'est plus modifiable.")
    basis = _check_editor(actor, consultation, "consultation.save", request)
    allowed = {k: v.strip() for k, v in fields.items() if k in TEXT_FIELDS}
    updated = Consultation.objects.filter(pk=consultation.pk, version=version).update(
        version=F("version") + 1, **allowed
    )
    if not updated:
        raise ConsultationError("La consultation a été modifiée ailleurs : rechargez la page.")
    for k, v in allowed.items():
        setattr(consultation, k, v)
    consultation.version = version + 1
    audit_record(
        actor=actor,
        action="consultation.save",
        object_type="consultation",
        object_id=consultation.pk,
        patient_id=consultation.patient_id,
        detail=basis or None,
        request=request,
    )
    return consultation


def consultation_delete(*, actor: Any, consultation: Consultation, request: HttpRequest | None = None) -> None:
    """Delete one's own empty draft (issue 13 §2): opened by mistake, nothing typed, no document made from it."""
    check_permission(actor, Perm.CLINICAL_WRITE)
    refusal = ""
    if actor.pk != consultation.author_id:
        refusal = "Seul l'auteur d'un brouillon peut le supprimer."
    elif consultation.state != Consultation.State.OPEN:
        refusal = "Consultation validée : elle ne peut pas être supprimée."
    elif not consultation_is_empty(consultation):
        refusal = "Ce brouillon contient des informations : il ne peut pas être supprimé (videz-le d'abord)."
    with transaction.atomic():
        if not refusal:
            # Re-checked in the DELETE itself: a save that lands meanwhile bumps the version and keeps the draft.
            deleted, _ = Consultation.objects.filter(
                pk=consultation.pk,
                version=consultation.version,
                state=Consultation.State.OPEN,
                author_id=actor.pk,
                **{name: "" for name in TEXT_FIELDS},
            ).delete()
            if not deleted:
                refusal = "La consultation a été modifiée ailleurs : rechargez la page."
        audit_record(
            actor=actor,
            action="consultation.delete",
            object_type="consultation",
            object_id=consultation.pk,
            patient_id=consultation.patient_id,
            outcome=AuditEvent.Outcome.REFUSED if refusal else AuditEvent.Outcome.OK,
            detail={"reason": refusal} if refusal else None,
            request=request,
        )
    if refusal:
        raise ConsultationError(refusal)


def consultation_mark_validated(*, actor: Any, consultation: Consultation, request: HttpRequest | None) -> None:
    """The state change itself; the caller produces the documents in the same transaction."""
    basis = _check_editor(actor, consultation, "consultation.validate", request)
    with transaction.atomic():
        updated = Consultation.objects.filter(pk=consultation.pk, state=Consultation.State.OPEN).update(
            state=Consultation.State.VALIDATED, validated_at=timezone.now(), version=F("version") + 1
        )
        if not updated:
            raise ConsultationError("Consultation déjà validée.")
        audit_record(
            actor=actor,
            action="consultation.validate",
            object_type="consultation",
            object_id=consultation.pk,
            patient_id=consultation.patient_id,
            detail=basis or None,
            request=request,
        )
