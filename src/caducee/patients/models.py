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
