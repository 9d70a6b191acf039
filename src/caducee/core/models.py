from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Le journal d'audit est en ajout seul.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AppendOnlyError("Le journal d'audit est en ajout seul.")


class AuditEvent(models.Model):
    """One line of the append-only audit trail: who did what, when, on which record, with what outcome.

    R16 (accesses and changes to identities), R4/R37/R39 (INSi calls), SC.SSI: every read or change of a
    patient record and every external-service call. On PostgreSQL a trigger also refuses UPDATE/DELETE.
    """

    class Outcome(models.TextChoices):
        OK = "ok", "Succès"
        REFUSED = "refused", "Refusé"
        ERROR = "error", "Erreur"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    # Not a foreign key: core knows nothing of patients, and the trail outlives deletions.
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["patient_id", "-at"], name="audit_patient_at"),
            # "Patients récents" on each user's home page: the user's last chart openings (issue 13 §1).
            models.Index(fields=["actor", "action", "-at"], name="audit_actor_action_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Le journal d'audit est en ajout seul.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Le journal d'audit est en ajout seul.")


class Delivery(models.Model):
    """One durable send to a remote service (DMP, MSS…): the outbox row, see `caducee.core.outbox`.

    Written in the same transaction as the document it delivers; a worker claims it with a lease, calls
    the channel's handler and records the result. (channel, document uniqueId, action) is the
    idempotency key: enqueuing twice or resending after a crash never creates a second delivery.
    """

    class State(models.TextChoices):
        PENDING = "pending", "En attente"
        SENDING = "sending", "En cours d'envoi"
        SENT = "sent", "Envoyé"
        FAILED = "failed", "En échec (nouvel essai prévu)"
        REJECTED = "rejected", "Rejeté"

    channel = models.CharField(max_length=20)
    action = models.CharField(max_length=40)
    # The key the remote side deduplicates on: the CDA ClinicalDocument/id (root^extension) of the document sent (an
    # MSSanté message: its Message-ID).
    document_unique_id = models.CharField(max_length=120)
    # What the delivery carries, as plain values — core is the ground floor, no foreign key up to documents or
    # patients: the uniqueId of the stored document ("" when none, e.g. a read receipt; the first document of an
    # MSSanté message) and its patient's id. Whoever shows a delivery loads the document by uniqueId itself.
    document_ref = models.CharField(max_length=120, blank=True, db_index=True)
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "document_unique_id", "action"], name="delivery_idempotency"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.action} {self.document_unique_id} ({self.state})"

    @property
    def idempotency_key(self) -> str:
        return f"{self.channel}:{self.action}:{self.document_unique_id}"
