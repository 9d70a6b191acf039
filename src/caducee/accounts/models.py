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
    INTERNE = "interne", "Interne"
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
    # Lockout (SC.SSI/IAM.92, accounts/lockout.py): attempts counted since the last success, when the last one
    # was counted, until when the account is locked once LOGIN_MAX_FAILURES is reached, and when an attempt was
    # last refused for it.
    failed_logins = models.PositiveSmallIntegerField(default=0)
    failed_login_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    login_refused_at = models.DateTimeField(null=True, blank=True)
    # SC.SSI/IAM.91: when the password last changed (traced in the audit too).
    password_changed_at = models.DateTimeField("mot de passe changé le", null=True, blank=True)
    # TOTP second factor (RFC 6238) of a local account: the secret sealed with core.crypto, never shown again.
    totp_secret = models.TextField(blank=True)
    totp_enabled_at = models.DateTimeField("double authentification activée le", null=True, blank=True)
    totp_last_step = models.BigIntegerField(default=0)  # the last accepted time step: a code is used once
    # SC.PSC.02: the Pro Santé Connect account linked to this local one (PSC `sub`), after a password check.
    psc_sub = models.CharField("identifiant technique PSC", max_length=255, null=True, blank=True, unique=True)
    psc_linked_at = models.DateTimeField("compte PSC rapproché le", null=True, blank=True)

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


class LoginThrottle(models.Model):
    """The lockout counter of an identifier that is no account (SC.SSI/IAM.92, accounts/lockout.py).

    An unknown identifier is locked after LOGIN_MAX_FAILURES like an account, so neither the message nor the time
    of the answer tells whether an account exists. The identifier itself is not kept (a password typed in the
    wrong field must not be stored): `key` is its HMAC under SECRET_KEY. Rows at rest are purged.
    """

    key = models.CharField(max_length=64, unique=True)
    failed_logins = models.PositiveSmallIntegerField(default=0)
    failed_login_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    login_refused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["failed_login_at"], name="login_throttle_at")]

    def __str__(self) -> str:
        return f"{self.key[:8]}… {self.failed_logins}"


class PasswordHistory(models.Model):
    """SC.SSI/IAM.92 « pas de réutilisation de mot de passe »: the hashes an administrator's password had before
    (the last ADMIN_PASSWORD_HISTORY are compared with a new one; older rows are deleted)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)  # the hash, as in User.password
    replaced_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-replaced_at"], name="password_history_user")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.replaced_at:%Y-%m-%d}"


class PscSession(models.Model):
    """A Pro Santé Connect session of a user (one per login through PSC).

    The tokens are sealed (`core.crypto`) because the worker, another process, needs the user's access token to
    send MSSanté mail on their behalf (SC.MSS/CONF.07); they are never logged nor shown. The session ends with
    PSC's (4 h, 30 min idle: the refresh token expires), at logout, or when a refresh fails (SC.MSS/CONF.10).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="psc_sessions")
    django_session_key = models.CharField(max_length=64, blank=True, db_index=True)
    sid = models.CharField("session PSC", max_length=255, blank=True)
    national_id = models.CharField("SubjectNameID", max_length=20)
    id_token = models.TextField(blank=True)
    access_token = models.TextField(blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token = models.TextField(blank=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    # The work situation chosen at login (one of SubjectRefPro.exercices[].activities[]), as PSC gave it.
    work_situation = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at"], name="psc_session_user_open")]

    def __str__(self) -> str:
        return f"PSC {self.national_id} {self.started_at:%Y-%m-%d %H:%M}"


class Replacement(models.Model):
    """A replacement (remplacement): the remplaçant works under their own identity in the replaced doctor's context.

    Opened by the replaced doctor, closed by them on return (or by an administrator). At most one open replacement
    per remplaçant.
    """

    replaced = models.ForeignKey(User, on_delete=models.PROTECT, related_name="replacements_given")
    remplacant = models.ForeignKey(User, on_delete=models.PROTECT, related_name="replacements_taken")
    opened_at = models.DateTimeField(auto_now_add=True)
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["remplacant"], condition=models.Q(closed_at__isnull=True), name="one_open_replacement"
            )
        ]

    def __str__(self) -> str:
        return f"{self.remplacant} remplace {self.replaced}"
