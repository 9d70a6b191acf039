"""Consultation services: open, save, and validate in one click (issue 3 §2).

Validation does what the rules ask with defaults the doctor can change before clicking: today the VSM
refresh (pre-ticked when the summary changed since the last VSM, or for an ALD patient without a VSM in
the last year); the DMP and MSS choices of later issues join the same panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.permissions import Perm, check_permission
from caducee.core.audit import audit_record
from caducee.documents.models import Document
from caducee.patients.models import Patient
from caducee.record.models import Consultation
from caducee.record.services import problem_create, vital_record

VSM_RECENT = timedelta(days=365)


class ConsultationError(Exception):
    """A refused consultation operation; the message is for the doctor, in French."""


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
    allowed = {k: v.strip() for k, v in fields.items() if k in ("motif", "observation", "examination", "conclusion")}
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
        request=request,
    )
    return consultation


def last_vsm(patient: Patient) -> Document | None:
    """The patient's last summary document, VSM or IPS-FR (whichever the practice produced)."""
    return Document.objects.filter(patient=patient, model__in=("vsm", "ips")).order_by("-created_at", "-id").first()


def vsm_default(patient: Patient, *, changed_since: Any) -> bool:
    """Pre-tick 'mettre à jour le VSM': the summary changed since the last VSM, or an ALD patient has none
    from the last year (forfait structure: VSM for ALD patients)."""
    previous = last_vsm(patient)
    if previous is None:
        return True
    if changed_since(patient, previous.created_at):
        return True
    has_ald = patient.alds.filter(Q(end__isnull=True) | Q(end__gte=timezone.localdate())).exists()
    return has_ald and previous.created_at < timezone.now() - VSM_RECENT


def consultation_mark_validated(*, actor: Any, consultation: Consultation, request: HttpRequest | None) -> None:
    """The state change itself; the caller produces the documents in the same transaction."""
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
            request=request,
        )


@dataclass(frozen=True)
class Findings:
    """What the examination adds to the record: measurements and a diagnosis (CIM-10 code and/or free text)."""

    measures: dict[str, Decimal] = field(default_factory=dict)  # vital_record keyword → value
    diagnosis_code: str = ""
    diagnosis_label: str = ""


def consultation_validate(
    *,
    actor: Any,
    consultation: Consultation,
    make_vsm: bool,
    vsm_exclude: set[str],
    findings: Findings | None = None,
    send_dmp: bool = False,
    dmp_visibility: frozenset[str] = frozenset(),
    mss_recipients: Sequence[str] = (),
    request: HttpRequest | None = None,
) -> list[Document]:
    """One click: the consultation is validated and every document ticked in the panel is produced, in one
    transaction — a missing mandatory datum (MissingDataError) leaves the consultation open and stores nothing.

    `send_dmp`: each produced document is queued for the patient's DMP (outbox delivery written in the same
    transaction, `dmp.services.delivery_for`) with the `dmp_visibility` codes (MASQUE_PS, INVISIBLE_PATIENT…).
    Only for a QUAL identity whose patient did not object (R28, SC.DMP/CONF.06): otherwise the documents are
    produced and the consultation validated all the same, nothing is queued, and the view tells the doctor why
    with `dmp.selectors.dmp_not_fed_reason(patient)` (non-empty exactly when nothing was queued for that reason);
    `dmp.selectors.document_dmp_states(produced)` gives each document's DMP state.

    `mss_recipients`: the produced documents go by MSSanté to these addresses (issue 5 §6), the message and its
    outbox delivery written in the same transaction; a refusal (`mss.services.MssServiceError`, e.g. a patient
    address without a QUAL identity, SC.MSS.14) leaves the consultation open and stores nothing."""
    from caducee.dmp.selectors import dmp_not_fed_reason
    from caducee.dmp.services import SENDABLE_MODELS, delivery_for
    from caducee.documents.production import vsm_create

    check_permission(actor, Perm.CLINICAL_WRITE)
    produced: list[Document] = []
    findings = findings or Findings()
    patient = consultation.patient
    with transaction.atomic():
        consultation_mark_validated(actor=actor, consultation=consultation, request=request)
        # The findings enter the record first, so the summary produced below already carries them.
        if findings.measures:
            vital_record(
                actor=actor, patient=patient, measured_at=consultation.date, request=request, **findings.measures
            )
        if findings.diagnosis_code or findings.diagnosis_label:
            problem_create(
                actor=actor,
                patient=patient,
                label=findings.diagnosis_label,
                cim10_code=findings.diagnosis_code,
                onset=timezone.localdate(),
                request=request,
            )
        if make_vsm:
            produced.append(
                vsm_create(
                    actor=actor,
                    patient=consultation.patient,
                    exclude=vsm_exclude,
                    consultation=consultation,
                    request=request,
                )
            )
        if send_dmp and produced and not dmp_not_fed_reason(patient):
            for document in produced:
                if document.model in SENDABLE_MODELS:
                    delivery_for(document, sorted(dmp_visibility), actor)
            audit_record(
                actor=actor,
                action="dmp.send",
                object_type="consultation",
                object_id=consultation.pk,
                patient_id=patient.pk,
                detail={"documents": [d.unique_id for d in produced], "visibility": sorted(dmp_visibility)},
                request=request,
            )
        if mss_recipients and produced:
            from caducee.mss.services import mss_send

            mss_send(
                actor=actor,
                patient=patient,
                documents=produced,
                recipients=list(mss_recipients),
                request=request,
            )
    consultation.state = Consultation.State.VALIDATED
    return produced
