from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from caducee.identity.models import Identity


class ContactPreference(models.TextChoices):
    """How the patient prefers to be reached (appointment reminders, results to call back)."""

    TELEPHONE = "telephone", "Téléphone"
    SMS = "sms", "SMS"
    COURRIEL = "courriel", "Courriel"
    COURRIER = "courrier", "Courrier postal"


class Patient(models.Model):
    """The administrative record: contact data, carte Vitale data, médecin traitant, ALD.

    Identity traits and INS live in identity.Identity (one identity per patient). `version` guards the writes of
    this record (contact data, médecin traitant) as `Identity.version` guards the traits: `UPDATE … WHERE version =
    seen`, so two people editing the same card never lose an update.

    Médecin traitant: a doctor of the practice (`medecin_traitant`) or an outside correspondent
    (`medecin_traitant_correspondent`, whose name is copied into `medecin_traitant_externe` for the documents), or
    a name only (`medecin_traitant_externe` alone, as typed before the address book existed); never two of them.
    `medecin_traitant_since`: since when he follows the patient; `medecin_traitant_declared(_on)`: whether (and when)
    the déclaration de choix du médecin traitant was made to the Assurance Maladie — the VSM's participant time.
    """

    identity = models.OneToOneField(Identity, on_delete=models.PROTECT, related_name="patient")
    address_line = models.CharField("adresse", max_length=200, blank=True)
    postal_code = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("ville", max_length=100, blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    mobile_phone = models.CharField("téléphone portable", max_length=20, blank=True)
    email = models.EmailField("courriel", blank=True)
    contact_preference = models.CharField(
        "moyen de contact préféré", max_length=10, choices=ContactPreference.choices, blank=True
    )
    contact_note = models.CharField("consignes de contact", max_length=200, blank=True)
    # Carte Vitale: the NIR on the card is the ouvrant droit's, not necessarily the patient's INS.
    vitale_nir_od = models.CharField("NIR de l'ouvrant droit", max_length=15, blank=True)
    vitale_rang = models.CharField("rang de naissance", max_length=1, blank=True)
    vitale_read_at = models.DateTimeField(null=True, blank=True)
    medecin_traitant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patients_suivis",
        verbose_name="médecin traitant",
    )
    medecin_traitant_externe = models.CharField("médecin traitant (hors cabinet)", max_length=200, blank=True)
    medecin_traitant_correspondent = models.ForeignKey(
        "Correspondent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="patients_suivis",
        verbose_name="médecin traitant (correspondant)",
    )
    medecin_traitant_since = models.DateField("médecin traitant depuis le", null=True, blank=True)
    medecin_traitant_declared = models.BooleanField("déclaration de médecin traitant faite", default=False)
    medecin_traitant_declared_on = models.DateField("date de la déclaration", null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return str(self.identity)

    @property
    def medecin_traitant_name(self) -> str:
        """The médecin traitant as people read it: the practice doctor, the correspondent, or the typed name."""
        if self.medecin_traitant is not None:
            return self.medecin_traitant.display_name()
        if self.medecin_traitant_correspondent is not None:
            return str(self.medecin_traitant_correspondent)
        return self.medecin_traitant_externe


class Ald(models.Model):
    """Affection de longue durée, with its CIM-10 codes and dates."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="alds")
    label = models.CharField("libellé", max_length=200)
    cim10_codes = models.CharField("codes CIM-10", max_length=100, blank=True)
    start = models.DateField("début")
    end = models.DateField("fin", null=True, blank=True)

    class Meta:
        ordering = ["start"]


class Correspondent(models.Model):
    """A professional or structure the practice writes to (issue 5 §5): the local address book.

    Filled by hand, from the Annuaire Santé (FHIR or the public extraction) or from a received message's sender
    (ANNU/GEN.03). `national_id` is the IdNat PS (8 + RPPS) when known: the business identifier that survives the
    Annuaire's technical id changes.
    """

    national_id = models.CharField("identifiant national (8 + RPPS)", max_length=20, blank=True, db_index=True)
    civility = models.CharField("civilité", max_length=20, blank=True)
    family_name = models.CharField("nom", max_length=100, blank=True)
    given_name = models.CharField("prénom", max_length=100, blank=True)
    organisation = models.CharField("structure", max_length=200, blank=True)
    profession = models.CharField("profession", max_length=120, blank=True)
    specialty = models.CharField("spécialité", max_length=200, blank=True)
    address_line = models.CharField("adresse", max_length=300, blank=True)
    postal_code = models.CharField("code postal", max_length=10, blank=True)
    city = models.CharField("ville", max_length=100, blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    # The MSSanté mailbox letters go to (one per correspondent; the directory may list more).
    mss_address = models.EmailField("adresse MSSanté", max_length=254, blank=True, db_index=True)
    source = models.CharField(max_length=12, default="manuel")  # manuel | annuaire | message
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["family_name", "given_name", "organisation"]

    def __str__(self) -> str:
        name = " ".join(p for p in (self.civility, self.family_name, self.given_name) if p)
        return name or self.organisation or self.mss_address


class CorrespondentRole(models.TextChoices):
    """The place of a correspondent in the patient's care team (issue 13 §1)."""

    MEDECIN_TRAITANT = "medecin_traitant", "Médecin traitant"
    ADRESSEUR = "adresseur", "Adresseur"
    SPECIALISTE = "specialiste", "Spécialiste"
    PHARMACIEN = "pharmacien", "Pharmacien"
    INFIRMIER = "infirmier", "Infirmier"
    KINESITHERAPEUTE = "kinesitherapeute", "Masseur-kinésithérapeute"
    AUTRE = "autre", "Autre"


class PatientCorrespondent(models.Model):
    """A correspondent linked to a patient with a role (médecin traitant, adresseur, spécialiste…)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="correspondents")
    correspondent = models.ForeignKey(Correspondent, on_delete=models.PROTECT, related_name="patients")
    role = models.CharField("rôle", max_length=20, choices=CorrespondentRole.choices, default=CorrespondentRole.AUTRE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["role", "id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "correspondent", "role"], name="patient_correspondent_once")
        ]


class ContactChange(models.Model):
    """One change of the administrative card (coordonnées, médecin traitant): who, when, which fields, and the values
    they had before — the history the chart shows (issue 13 §1). The audit trail names the fields only (it leaves
    the practice as syslog); the previous values stay here, in the patient's record."""

    class Kind(models.TextChoices):
        CONTACT = "coordonnees", "Coordonnées"
        MEDECIN_TRAITANT = "medecin_traitant", "Médecin traitant"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="contact_changes")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONTACT)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    fields = models.JSONField(default=list)  # the names of the fields changed
    previous = models.JSONField(default=dict)  # their values before the change, as displayed

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "-at"], name="contact_change_patient_at")]
