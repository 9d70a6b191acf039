from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from caducee.core.dates import french_date


class Status(models.TextChoices):
    """The four confidence statuses (RNIV EXI SI 07; FR Core fr-core-cs-identity-status)."""

    PROV = "PROV", "Identité provisoire"
    RECUP = "RECUP", "Identité récupérée"
    VALI = "VALI", "Identité validée"
    QUAL = "QUAL", "Identité qualifiée"


class Sex(models.TextChoices):
    M = "M", "Masculin"
    F = "F", "Féminin"
    I = "I", "Indéterminé"  # noqa: E741 — RNIV code


class CollectionMethod(models.TextChoices):
    """How the identity was collected (FR Core fr-core-cs-method-collection)."""

    SM = "SM", "Saisie manuelle"
    CV = "CV", "Carte Vitale"
    INSI = "INSI", "Téléservice INSi"
    CB = "CB", "Datamatrix INS"
    AV = "AV", "Application carte Vitale"


# R19: high-trust identification devices (FR Core fr-core-cs-mode-validation-identity).
ID_DOCUMENTS = {
    "CN": "Carte nationale d'identité",
    "PA": "Passeport",
    "CS": "Titre de séjour permanent",
    "eCN": "Carte d'identité électronique",
    "IN": "Identité Numérique La Poste",
    "AV": "Application carte Vitale",
    "AN": "Extrait d'acte de naissance (mineur) + justificatif d'un parent",
    "LEP": "Livret de famille des parents (mineur) + justificatif d'un parent",
    "CC": "Document de circulation pour étranger mineur",
    "LECV": "Livret de famille + carte Vitale avec photo (EHPAD)",
    "ANCV": "Extrait d'acte de naissance + carte Vitale avec photo (EHPAD)",
}
DEFAULT_ID_DOCUMENTS = ["CN", "PA", "CS", "eCN", "IN", "AV"]

UNKNOWN_BIRTHPLACE = "99999"


class Identity(models.Model):
    """A patient's identity: the traits of R1, the INS, the status and the vigilance attributes."""

    # The INS: matricule (13 + key) and the OID of its assigning authority, only from INSi (R6).
    ins_matricule = models.CharField("matricule INS", max_length=15, blank=True, db_index=True)
    ins_oid = models.CharField("OID", max_length=64, blank=True)
    ins_history = models.JSONField("matricules INS antérieurs", default=list, blank=True)
    # Strict traits (R1, R5).
    birth_name = models.CharField("nom de naissance", max_length=100)
    birth_given_names = models.CharField("prénom(s) de naissance", max_length=200, blank=True)
    first_given_name = models.CharField("premier prénom de naissance", max_length=100)
    # YYYY-MM-DD; "00" as month/day when unknown (RNIV allows partial dates for local identities).
    birth_date = models.CharField("date de naissance", max_length=10, db_index=True)
    sex = models.CharField("sexe", max_length=1, choices=Sex.choices)
    birthplace_cog = models.CharField("lieu de naissance (code COG)", max_length=5, default=UNKNOWN_BIRTHPLACE)
    # Complementary traits (R26: stay editable whatever the status).
    used_name = models.CharField("nom utilisé", max_length=100, blank=True)
    used_given_name = models.CharField("prénom utilisé", max_length=100, blank=True)

    status = models.CharField("statut", max_length=5, choices=Status.choices, default=Status.PROV)
    # R25: doubtful / fictitious identities are PROV and never sent to INSi.
    is_doubtful = models.BooleanField("identité douteuse", default=False)
    is_fictitious = models.BooleanField("identité fictive", default=False)
    collection_method = models.CharField(max_length=4, choices=CollectionMethod.choices, default=CollectionMethod.SM)
    # R19: nature of the high-trust document checked, when and by whom.
    id_document = models.CharField("justificatif", max_length=5, blank=True)
    id_document_checked_at = models.DateTimeField(null=True, blank=True)
    id_document_checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    insi_checked_at = models.DateTimeField("dernier appel INSi concluant", null=True, blank=True)
    # Identities obtained from the INSi sandbox are test data: never sent to a real national service.
    from_sandbox = models.BooleanField(default=False)
    # Optimistic concurrency: every write bumps the version; a stale form is refused.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    # Set by every write of the identity services (`_save_versioned`). SC.MSS/UX.15: the MSSanté work list pulls it
    # (latest change, an index read) to rescore its waiting documents once an identity changed.
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["birth_name", "first_given_name"], name="identity_names"),
            models.Index(fields=["updated_at"], name="identity_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.birth_name} {self.first_given_name} ({self.birth_date})"

    @property
    def birth_date_display(self) -> str:
        """JJ/MM/AAAA, keeping 00 for an unknown day or month."""
        return french_date(self.birth_date)

    @property
    def id_document_label(self) -> str:
        return ID_DOCUMENTS.get(self.id_document, self.id_document)

    @property
    def given_names_list(self) -> list[str]:
        return self.birth_given_names.split() if self.birth_given_names else [self.first_given_name]


class SearchToken(models.Model):
    """Normalised words of every name of an identity, for prefix search (R17)."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="search_tokens")
    token = models.CharField(max_length=100)
    # Copies of the identity's sort key, kept by identity.services._sync_tokens. Why: R17 search returns
    # patients in name order; with the key next to the token, the first 50 matches of a name prefix are
    # read from the search_token_sorted index alone, without visiting the identities (bench/README.md).
    birth_name = models.CharField(max_length=100)
    first_given_name = models.CharField(max_length=100)
    birth_date = models.CharField(max_length=10)

    class Meta:
        # The unique constraint stays: the sorted index is not unique on (token, identity).
        constraints = [models.UniqueConstraint(fields=["token", "identity"], name="search_token_unique")]
        indexes = [
            models.Index(
                fields=["token", "birth_name", "first_given_name", "birth_date", "identity"],
                name="search_token_sorted",
            )
        ]


class StatusChange(models.Model):
    """R21: every status change is kept with the previous status, the date and the author."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="status_changes")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    previous = models.CharField(max_length=5, choices=Status.choices, blank=True)
    new = models.CharField(max_length=5, choices=Status.choices)
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["-at", "-id"]


class InsiCall(models.Model):
    """R37/R39: trace of every INSi call and everything it returned."""

    class Operation(models.TextChoices):
        TRAITS = "traits", "Recherche par traits"
        VITALE = "vitale", "Recherche par carte Vitale"

    class Outcome(models.TextChoices):
        FOUND = "00", "Identité trouvée"
        NOT_FOUND = "01", "Aucune identité trouvée"
        MULTIPLE = "02", "Plusieurs identités trouvées"
        REJECTED = "rejected", "Réponse refusée (R11/R12)"
        REFUSED_TRAITS = "traits", "Traits refusés avant l'appel"
        FAULT = "fault", "Erreur du téléservice"
        UNAVAILABLE = "unavailable", "Téléservice indisponible"
        INVALID = "invalid", "Réponse illisible"

    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="insi_calls")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    operation = models.CharField(max_length=10, choices=Operation.choices)
    endpoint = models.CharField(max_length=300)
    request_traits = models.JSONField(default=dict)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    message = models.TextField(blank=True)
    # The returned identity (R39: matricule, OID, INS history, strict traits) when CR = 00.
    result = models.JSONField(default=dict, blank=True)
    response_xml = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]


class VigilanceCase(models.Model):
    """An item of the identity-vigilance work list."""

    class Kind(models.TextChoices):
        DUPLICATE = "DPOT", "Doublon potentiel"
        COLLISION = "COLP", "Collision potentielle"
        HOMONYM = "HOMD", "Homonyme détecté"
        INSI_FAILED = "INSI", "Vérification INSi en échec"
        INSI_KO = "INVA", "Identité invalidée par INSi"

    kind = models.CharField(max_length=4, choices=Kind.choices)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="vigilance_cases")
    other = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["resolved_at", "kind"], name="vigilance_open")]


class CogPlace(models.Model):
    """A birthplace of the Code officiel géographique (INSEE): a commune (current, historic or an arrondissement of
    Paris, Lyon, Marseille) or a foreign country (99xxx). R1/R5: the identity stores the code; this table only lets a
    name be searched. Loaded by `caducee import-cog` (INSEE's files, or the demo table)."""

    class Kind(models.TextChoices):
        COMMUNE = "COM", "commune"
        ARRONDISSEMENT = "ARM", "arrondissement municipal"
        DELEGATED = "COMD", "commune déléguée"
        ASSOCIATED = "COMA", "commune associée"
        FORMER = "ANC", "ancienne commune"
        COUNTRY = "PAYS", "pays"

    code = models.CharField("code COG", max_length=5, db_index=True)
    kind = models.CharField(max_length=4, choices=Kind.choices)
    name = models.CharField("nom", max_length=200)
    # search_key of the name (R17's normalisation: no accents, hyphens, apostrophes, spaces; "ST" spelt "SAINT").
    key = models.CharField(max_length=200, db_index=True)
    department = models.CharField("département", max_length=3, blank=True)
    # For a historic commune or an arrondissement: the current commune it belongs to.
    parent_code = models.CharField(max_length=5, blank=True)
    valid_until = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["key", "department", "code"]
        constraints = [models.UniqueConstraint(fields=["code", "kind", "name"], name="cog_place_unique")]
