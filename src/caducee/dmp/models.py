"""What Caducée keeps about each patient's DMP (issue 4 §4, SC.DMP requirements in ../shared/reference/requirements).

* `DmpAccess`: the last TD0.2 answer (SC.DMP/CONF.01: test of existence and authorization before any feed or
  consultation), plus the identity divergence found (CONF.02, described without the DMP's values: RG_0320) and the
  date of the last listing (incremental search, SC.DMP/UX.14).
* `DmpConsent`: the patient's non-opposition recorded locally (CONF.06 feed, CONF.09 consultation).
* `DmpEntry`: a cache of what TD3.1 lists, so the DMP tab shows the metadata and highlights the new documents
  (UX.14); deduplicated with the local documents by uniqueId (UX.36).

Both are kept PER PROFESSIONAL (issue 13 §3): the DMP answers TD0.2 for the caller (the authorization is that
professional's, TD0.3 is asked in their own context) and lists what that professional may see (MASQUE_PS, the
access matrix of their profession). Another clinician never sees a colleague's authorization or list as their own.
Rows without a professional (before this change) are never shown to anyone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from caducee.patients.models import Patient


class DmpAccess(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="dmp_accesses")
    # The professional whose context called the DMP (the answer is theirs: authorization, TD0.3).
    professional = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    exists = models.BooleanField(default=False)
    active = models.BooleanField(default=False)
    # EF_DMP04_01: VALIDE, EXPIREE, ABSENTE, INTERDITE ("" before the first TD0.2).
    authorization = models.CharField(max_length=12, blank=True)
    authorization_until = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    closing_reason = models.CharField(max_length=200, blank=True)
    medecin_traitant = models.BooleanField(default=False)
    mes_attached = models.BooleanField(default=False)
    # French text naming the differing traits (never the DMP's values, RG_0320); empty when none.
    divergence = models.TextField(blank=True)
    last_listed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "professional"], name="dmp_access_professional")]

    def __str__(self) -> str:
        return f"DMP du patient {self.patient_id} ({self.authorization or 'non vérifié'})"

    @property
    def may_consult(self) -> bool:
        return self.exists and self.active and self.authorization == "VALIDE"


class DmpConsent(models.Model):
    """SC.DMP/CONF.06 (the patient does not object to the feed) and CONF.09 (consents to the consultation)."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="dmp_consent")
    feed_opposed = models.BooleanField("opposition à l'alimentation", default=False)
    consult_consent = models.BooleanField("consentement à la consultation", default=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Consentement DMP du patient {self.patient_id}"


class DmpEntry(models.Model):
    """One DocumentEntry of the patient's DMP as last listed (TD3.1), keyed by its entryUUID."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="dmp_entries")
    # Listed in this professional's context (TD3.1 answers per caller): their cache, not the practice's.
    professional = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    entry_uuid = models.CharField(max_length=100)
    logical_id = models.CharField(max_length=100, blank=True)
    unique_id = models.CharField(max_length=130, db_index=True)
    repository_unique_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=80)
    title = models.CharField(max_length=300)
    type_code = models.CharField(max_length=40)
    type_code_system = models.CharField(max_length=64)
    type_label = models.CharField(max_length=200, blank=True)
    class_code = models.CharField(max_length=20, blank=True)
    format_code = models.CharField(max_length=80, blank=True)
    confidentiality = models.CharField("codes de confidentialité (liste)", max_length=200, blank=True)
    author_national_id = models.CharField(max_length=20, blank=True)
    author_label = models.CharField(max_length=200, blank=True)
    author_institution = models.CharField(max_length=200, blank=True)
    creation_time = models.DateTimeField(null=True, blank=True)
    service_start_time = models.DateTimeField(null=True, blank=True)
    submission_time = models.DateTimeField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    seen = models.BooleanField("déjà ouvert", default=False)
    local_document = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="dmp_entries"
    )

    class Meta:
        ordering = ["-creation_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "professional", "entry_uuid"], name="dmp_entry_uuid_pro")
        ]
        indexes = [
            models.Index(fields=["patient", "professional", "-creation_time"], name="dmp_entry_patient_pro"),
            models.Index(fields=["patient", "professional", "seen"], name="dmp_entry_new_pro"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.unique_id})"

    @property
    def confidentiality_codes(self) -> list[str]:
        return [c for c in self.confidentiality.split(",") if c]

    @property
    def masked_ps(self) -> bool:
        return "MASQUE_PS" in self.confidentiality_codes

    @property
    def invisible_patient(self) -> bool:
        return "INVISIBLE_PATIENT" in self.confidentiality_codes

    @property
    def invisible_legal_reps(self) -> bool:
        return "INVISIBLE_REPRESENTANTS_LEGAUX" in self.confidentiality_codes

    @property
    def is_new(self) -> bool:
        return not self.seen
