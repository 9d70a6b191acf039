from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from caducee.accounts.models import Role, User
from caducee.core.models import AuditEvent


def audit_events(*, patient: str = "", action: str = "") -> QuerySet[AuditEvent]:
    """The audit trail, newest first; 'who opened this chart' is the patient filter."""
    events = AuditEvent.objects.all()
    if patient.isdigit():
        events = events.filter(patient_id=int(patient))
    if action:
        events = events.filter(action__startswith=action)
    return events


# French labels of the audited actions on a patient's record, for « Qui a consulté ce dossier ».
ACCESS_LABELS: dict[str, str] = {
    "patient.read": "Ouverture du dossier",
    "patient.create": "Création du patient",
    "record.read": "Lecture du dossier médical",
    "record.history_read": "Lecture de l'historique du dossier médical",
    "consultation.read": "Lecture d'une consultation",
    "document.list": "Liste des documents",
    "document.read": "Lecture d'un document",
    "document.pdf": "Lecture du PDF d'un document",
    "document.cda": "Téléchargement du CDA d'un document",
    "document.create": "Création d'un document",
    "dmp.panel": "Onglet DMP",
    "dmp.open": "Lecture d'un document du DMP",
    "mss.message.read": "Lecture d'un message MSSanté",
    "identity.read": "Lecture de l'identité",
    "identity.update": "Modification de l'identité",
    "letter.new": "Nouveau courrier",
    "letter.draft": "Préparation d'un courrier",
}


def patient_accesses(patient_id: int) -> QuerySet[AuditEvent]:
    """ "Who opened this chart" (issue 6 §2): every audited event naming the patient — reads, changes, refusals —
    newest first, with the actor (and so their role) in the same query (index audit_patient_at)."""
    return AuditEvent.objects.filter(patient_id=patient_id).select_related("actor").order_by("-at", "-id")


def account_is_dormant(user: User, *, now: datetime | None = None) -> bool:
    """SC.SSI/IAM.93: an administrator account not used for ADMIN_DORMANT_DAYS (never used: since its creation)."""
    if user.role != Role.ADMINISTRATEUR or not user.is_active:
        return False
    last = user.last_login or user.date_joined
    return last < (now or timezone.now()) - timedelta(days=settings.ADMIN_DORMANT_DAYS)
