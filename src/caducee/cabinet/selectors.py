"""What the top floor's screens read across apps: the defaults of the one-click validation panel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from caducee.documents.models import Document
from caducee.patients.models import Patient

VSM_RECENT = timedelta(days=365)


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
