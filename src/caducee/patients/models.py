from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from caducee.identity.models import Identity


class Patient(models.Model):
    """The administrative record: contact data, carte Vitale data, médecin traitant, ALD.

    Identity traits and INS live in identity.Identity (one identity per patient).
    """

    identity = models.OneToOneField(Identity, on_delete=models.PROTECT, related_name="patient")
    address_line = models.CharField("adresse", max_length=200, blank=True)
    postal_code = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("ville", max_length=100, blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    email = models.EmailField("courriel", blank=True)
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
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return str(self.identity)


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
    MEDECIN_TRAITANT = "medecin_traitant", "Médecin traitant"
    ADRESSEUR = "adresseur", "Adresseur"
    SPECIALISTE = "specialiste", "Spécialiste"
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
