"""The document store (issue 3 §3): every clinical output is stored once, as a CI-SIS CDA plus its PDF.

Originals are immutable: only the state and the DMP/visibility flags change after creation; a correction
is a new version (same setId, versionNumber + 1, `replaces` → the previous one).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from caducee.patients.models import Patient


class ImmutableDocumentError(Exception):
    pass


class Sequence(models.Model):
    """Named counters (document uniqueId extensions…), incremented under a row lock."""

    name = models.CharField(max_length=40, unique=True)
    value = models.BigIntegerField(default=0)


class Document(models.Model):
    class Category(models.TextChoices):
        LETTER = "courrier", "Courriers"
        PRESCRIPTION = "ordonnance", "Ordonnances"
        OTHER = "divers", "Documents divers"
        CNAM = "cnam", "Documents CNAM"
        LAB = "labo", "Résultats de laboratoire"

    class State(models.TextChoices):
        DRAFT = "en_cours", "En cours"
        VALIDATED = "valide", "Validé"
        SENT = "expedie", "Expédié"
        RECEIVED = "recu", "Reçu"
        UNREAD = "non_lu", "Non lu"

    class Confidentiality(models.TextChoices):
        NORMAL = "N", "Normal"
        RESTRICTED = "R", "Restreint"
        VERY_RESTRICTED = "V", "Très restreint"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="documents")
    # J07 XdsTypeCode (e.g. SYNTH for the VSM, 11488-4 consultation report) and its code system.
    type_code = models.CharField(max_length=20)
    type_code_system = models.CharField(max_length=64)
    type_label = models.CharField(max_length=200)
    # The CI-SIS document model (vsm, n1, ips…): drives the XDS formatCode later (DMP issue).
    model = models.CharField(max_length=20)
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.OTHER)
    state = models.CharField(max_length=10, choices=State.choices, default=State.VALIDATED)
    title = models.CharField(max_length=300)
    theme = models.CharField(max_length=200, blank=True)
    correspondent = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    effective_at = models.DateTimeField(default=timezone.now)
    # ClinicalDocument/id: practice OID root + sequence; stable forever.
    unique_id_root = models.CharField(max_length=64)
    unique_id_ext = models.CharField(max_length=40)
    set_id_root = models.CharField(max_length=64)
    set_id_ext = models.CharField(max_length=40)
    version_number = models.PositiveIntegerField(default=1)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")
    confidentiality = models.CharField(max_length=1, choices=Confidentiality.choices, default="N")
    # DMP visibility (used by the DMP issue): hidden from professionals, invisible to the patient / legal reps.
    dmp_hidden_from_ps = models.BooleanField(default=False)
    dmp_invisible_patient = models.BooleanField(default=False)
    dmp_invisible_legal_reps = models.BooleanField(default=False)
    cda = models.BinaryField()
    pdf = models.BinaryField(null=True, blank=True)
    consultation = models.ForeignKey(
        "record.Consultation", null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["unique_id_root", "unique_id_ext"], name="document_unique_id"),
            models.UniqueConstraint(fields=["set_id_root", "set_id_ext", "version_number"], name="document_version"),
        ]
        indexes = [models.Index(fields=["patient", "category", "-created_at"], name="document_patient")]

    _MUTABLE = {"state", "dmp_hidden_from_ps", "dmp_invisible_patient", "dmp_invisible_legal_reps"}

    def __str__(self) -> str:
        return f"{self.title} ({self.unique_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            fields = set(kwargs.get("update_fields") or ())
            if not fields or not fields <= self._MUTABLE:
                raise ImmutableDocumentError("Un document enregistré est immuable : créez une nouvelle version.")
        super().save(*args, **kwargs)

    @property
    def unique_id(self) -> str:
        return f"{self.unique_id_root}^{self.unique_id_ext}"


class LetterTemplate(models.Model):
    """A letter model with merge fields (`{{patient.nom}}`…), filled by `documents.letters.merge` (issue 3 §3).

    The body is plain text: merge fields are substituted from a whitelist, never run through a template engine.
    """

    class Kind(models.TextChoices):
        # Each kind has its J07 type code in documents.letters.services.KIND_TYPE_CODES.
        REFERRAL = "adressage", "Lettre d'adressage"
        CONSULTATION_REPORT = "cr_consultation", "Compte rendu de consultation"
        CERTIFICATE = "certificat", "Certificat médical"
        FREE = "libre", "Courrier libre"

    name = models.CharField("nom", max_length=120, unique=True)
    kind = models.CharField("type", max_length=20, choices=Kind.choices)
    body = models.TextField("texte")
    is_active = models.BooleanField("proposé", default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name
