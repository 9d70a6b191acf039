"""The structured clinical record (issue 3 §1): what the VSM / IPS-FR is built from.

Every entry belongs to a patient, is dated and attributed; every change is kept in RecordHistory.
Codes are stored with their code system OID (core.oids / CI-SIS terminologies).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from caducee.patients.models import Patient


class Concept(models.Model):
    """A terminology concept (CIM-10, CCAM, ATC, EDQM routes, UCUM…), loaded by `caducee import-terminology`."""

    system = models.CharField("OID du système de codage", max_length=64)
    code = models.CharField(max_length=40)
    label = models.CharField(max_length=300)
    # search_key(label): upper case, no accents/punctuation, for accent-insensitive search-as-you-type.
    label_key = models.CharField(max_length=300)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "code"], name="concept_unique")]
        indexes = [models.Index(fields=["system", "label_key"], name="concept_label")]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class Entry(models.Model):
    """Common columns of every record entry."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)
    # Soft delete: an entry removed by mistake stays in the history, never in the summary.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Problem(Entry):
    """A pathology (active or resolved), CIM-10 coded, free text allowed (FR-Probleme)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "En cours"
        RESOLVED = "resolved", "Résolu"

    label = models.CharField("libellé", max_length=300)
    cim10_code = models.CharField("code CIM-10", max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    onset = models.DateField("début", null=True, blank=True)
    resolved_on = models.DateField("fin", null=True, blank=True)


class History(Entry):
    """Medical or surgical history (antécédents); surgical acts may carry a CCAM code."""

    class Kind(models.TextChoices):
        MEDICAL = "medical", "Antécédent médical"
        SURGICAL = "surgical", "Antécédent chirurgical"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField("libellé", max_length=300)
    cim10_code = models.CharField("code CIM-10", max_length=10, blank=True)
    ccam_code = models.CharField("code CCAM", max_length=13, blank=True)
    date = models.DateField(null=True, blank=True)


class FamilyHistory(Entry):
    class Relation(models.TextChoices):
        MOTHER = "MTH", "Mère"
        FATHER = "FTH", "Père"
        SIBLING = "SIB", "Frère ou sœur"
        CHILD = "CHILD", "Enfant"
        GRANDPARENT = "GRPRN", "Grand-parent"
        OTHER = "FAMMEMB", "Autre membre de la famille"

    relation = models.CharField("lien", max_length=8, choices=Relation.choices)  # HL7 RoleCode
    label = models.CharField("libellé", max_length=300)
    cim10_code = models.CharField("code CIM-10", max_length=10, blank=True)


class Allergy(Entry):
    """Allergy or intolerance (FR-Allergie-ou-hypersensibilite): agent, reaction, severity."""

    class AgentKind(models.TextChoices):
        DRUG = "drug", "Médicament"
        SUBSTANCE = "substance", "Substance"
        OTHER = "other", "Autre"

    class Severity(models.TextChoices):
        LOW = "L", "Légère"
        MODERATE = "M", "Modérée"
        HIGH = "H", "Sévère"
        UNKNOWN = "", "Non précisée"

    agent_kind = models.CharField(max_length=10, choices=AgentKind.choices)
    agent_label = models.CharField("agent", max_length=300)
    agent_code = models.CharField("code de l'agent (CIS pour un médicament)", max_length=20, blank=True)
    is_intolerance = models.BooleanField("intolérance", default=False)
    reaction = models.CharField("réaction", max_length=300, blank=True)
    severity = models.CharField(max_length=1, choices=Severity.choices, blank=True, default="")
    onset = models.DateField(null=True, blank=True)


class AllergyStatement(models.Model):
    """'Aucune allergie connue' asserted by a professional, kept distinct from 'unknown' (no statement)."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="+")
    none_known = models.BooleanField(default=False)
    asserted_at = models.DateTimeField(default=timezone.now)
    asserted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")


class ProfessionalRisk(Entry):
    label = models.CharField("facteur de risque professionnel", max_length=300)


class Lifestyle(Entry):
    """Habitus (LOINC social-history codes, JDV_SocialHistoryCodes)."""

    class Kind(models.TextChoices):
        TOBACCO = "72166-2", "Tabac"
        TOBACCO_PACKS = "74011-8", "Consommation de tabac (paquets-années)"
        ALCOHOL = "74013-4", "Alcool"
        DRUGS = "11343-1", "Drogues"
        ACTIVITY = "73985-4", "Activité physique"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField("valeur", max_length=300)
    quantity = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    unit = models.CharField("unité UCUM", max_length=20, blank=True)


class VigilancePoint(Entry):
    text = models.TextField("point de vigilance")


class LongTermTreatment(Entry):
    """Traitement au long cours (FR-Traitement): drug (CIS/ATC), dose (UCUM), route (EDQM), reason."""

    drug_label = models.CharField("médicament", max_length=300)
    cis_code = models.CharField("code CIS", max_length=8, blank=True)
    atc_code = models.CharField("code ATC", max_length=7, blank=True)
    dose_quantity = models.DecimalField(max_digits=8, decimal_places=3, null=True, blank=True)
    dose_unit = models.CharField("unité UCUM", max_length=20, blank=True)
    route_code = models.CharField("voie (EDQM)", max_length=20, blank=True)
    frequency = models.CharField("posologie", max_length=200, blank=True)
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True)
    reason_label = models.CharField("motif", max_length=300, blank=True)
    reason_cim10 = models.CharField("motif CIM-10", max_length=10, blank=True)


class Vital(Entry):
    """A measurement with its UCUM unit (weight, height, BMI, blood pressure…), LOINC coded."""

    class Kind(models.TextChoices):
        WEIGHT = "29463-7", "Poids"
        HEIGHT = "8302-2", "Taille"
        BMI = "39156-5", "IMC"
        SYSTOLIC = "8480-6", "Pression artérielle systolique"
        DIASTOLIC = "8462-4", "Pression artérielle diastolique"
        HEART_RATE = "8867-4", "Fréquence cardiaque"
        TEMPERATURE = "8310-5", "Température"
        SPO2 = "59408-5", "Saturation en oxygène"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.DecimalField(max_digits=8, decimal_places=2)
    unit = models.CharField("unité UCUM", max_length=20)
    measured_at = models.DateTimeField(default=timezone.now)


class RecordHistory(models.Model):
    """Every change of a record entry: who, when, what (a JSON snapshot). Kept forever."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    entry_type = models.CharField(max_length=30)
    entry_id = models.BigIntegerField()
    action = models.CharField(max_length=10)  # create, update, delete
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "-at"], name="record_history_patient")]


class Consultation(models.Model):
    """A consultation: motif, observation, examination, conclusion; validated in one click (issue 3 §2)."""

    class State(models.TextChoices):
        OPEN = "en_cours", "En cours"
        VALIDATED = "validee", "Validée"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consultations")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    date = models.DateTimeField(default=timezone.now)
    motif = models.CharField(max_length=300, blank=True)
    observation = models.TextField(blank=True)
    examination = models.TextField("examen", blank=True)
    conclusion = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    validated_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["patient", "-date"], name="consultation_patient")]
