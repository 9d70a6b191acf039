from __future__ import annotations

from django.db.models import QuerySet

from caducee.core.models import AuditEvent


def audit_events(*, patient: str = "", action: str = "") -> QuerySet[AuditEvent]:
    """The audit trail, newest first; 'who opened this chart' is the patient filter."""
    events = AuditEvent.objects.all()
    if patient.isdigit():
        events = events.filter(patient_id=int(patient))
    if action:
        events = events.filter(action__startswith=action)
    return events
