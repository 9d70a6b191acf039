from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Practice(models.Model):
    """The practice (cabinet, MSP, centre de santé). One per database: multi-practice hosting is PostgreSQL."""

    class Kind(models.TextChoices):
        CABINET = "cabinet", "Cabinet"
        MSP = "msp", "Maison de santé pluriprofessionnelle"
        CENTRE = "centre", "Centre de santé"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CABINET)
    name = models.CharField("nom", max_length=200)
    finess = models.CharField("FINESS", max_length=9, blank=True)
    siret = models.CharField("SIRET", max_length=14, blank=True)
    address_line = models.CharField("adresse", max_length=200, blank=True)
    postal_code = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("ville", max_length=100, blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    # TRE_R02 secteur d'activité, e.g. SA07 "Cabinet individuel", SA05 "Centre de santé", SA08 "Cabinet de groupe".
    activity_sector = models.CharField("secteur d'activité (TRE_R02)", max_length=4, default="SA07")
    # The OID under which the practice issues its own identifiers (IPP, document uniqueId).
    oid_root = models.CharField("racine OID", max_length=64, blank=True)
    # A practice that has ever run on the sandbox holds test data: never sent to a real national service.
    is_sandbox = models.BooleanField("données de bac à sable", default=False)
    # R19: the high-trust identity documents accepted by this site (FR Core mode-validation codes).
    accepted_id_documents = models.JSONField("justificatifs d'identité acceptés", default=list, blank=True)

    class SummaryModel(models.TextChoices):
        # CI-SIS medical summary produced from the record (issue 3 §4): VSM 1.4 (1.2.250.1.213.1.1.1.13, SYNTH)
        # or its successor IPS-FR 2024.01 "Synthèse médicale" (1.2.250.1.213.1.1.1.51, LOINC 60591-5).
        VSM = "vsm", "Volet de synthèse médicale (VSM 1.4)"
        IPS = "ips", "Synthèse médicale (IPS-FR 2024.01)"

    summary_model = models.CharField(
        "modèle de synthèse médicale", max_length=3, choices=SummaryModel.choices, default=SummaryModel.VSM
    )

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    MEDECIN = "medecin", "Médecin"
    REMPLACANT = "remplacant", "Remplaçant"
    PARAMEDICAL = "paramedical", "Paramédical"
    SECRETAIRE = "secretaire", "Secrétaire"
    ASSISTANT = "assistant", "Assistant médical"
    ADMINISTRATEUR = "admin", "Administrateur"


class User(AbstractUser):
    """A user of the practice. national_id = 8+RPPS or 0+ADELI (TRE_G08 / CI-SIS)."""

    role = models.CharField(max_length=12, choices=Role.choices, default=Role.SECRETAIRE)
    # TRE_G15 profession code (10 médecin, 60 infirmier, …) and TRE_R38 specialty (SM54 médecine générale).
    profession_code = models.CharField("profession (TRE_G15)", max_length=4, blank=True)
    specialty_code = models.CharField("spécialité (TRE_R38)", max_length=8, blank=True)
    rpps = models.CharField("RPPS", max_length=11, blank=True)
    adeli = models.CharField("ADELI", max_length=9, blank=True)
    # R26: the habilitation allowed to edit strict traits of RECUP/QUAL identities.
    is_identity_superuser = models.BooleanField("super-utilisateur identité", default=False)
    failed_logins = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    @property
    def national_id(self) -> str:
        if self.rpps:
            return "8" + self.rpps
        if self.adeli:
            return "0" + self.adeli
        return ""

    def display_name(self) -> str:
        full = self.get_full_name()
        prefix = "Dr " if self.role in (Role.MEDECIN, Role.REMPLACANT) else ""
        return prefix + (full or self.username)
