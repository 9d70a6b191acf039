"""MSSanté data (issue 5): the practice's mailboxes, messages sent and received, received documents, the directory.

- `Mailbox`: a BAL the practice uses (PER for a professional, ORG for the practice, APP for software), with the IMAP
  synchronisation state (UIDVALIDITY + last UID seen: a reconnection never duplicates nor loses a message, §4).
- `OutboundMessage` / `OutboundRecipient`: one mail we sent and its state per recipient (envoyé, remis, lu, intégré,
  erreur), moved by the DSN and MDN that come back (SC.MSS/UX.30/35).
- `InboundMessage`: one mail received (or one file imported by `caducee import`), the raw message kept on disk.
- `ReceivedDocument`: one CDA found in a received XDM (or imported): filed into a chart, waiting in the work list with
  its similarity scores, or quarantined with the reason (SC.MSS/UX.07–12, LGC.MSS.01).
- `DirectoryEntry`: one row of the public `Extraction_Correspondance_MSSante` (or an Annuaire Santé FHIR answer), for
  instant offline search (§5).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class MailboxKind(models.TextChoices):
    # TRE_R257 / JDV_J139 mailbox types.
    PER = "PER", "Personnelle"
    ORG = "ORG", "Organisationnelle"
    APP = "APP", "Applicative"
    CAB = "CAB", "Cabinet"


class Mailbox(models.Model):
    address = models.EmailField("adresse MSSanté", max_length=254, unique=True)
    kind = models.CharField("type de BAL", max_length=3, choices=MailboxKind.choices, default=MailboxKind.PER)
    # PER: the professional who owns it; ORG/APP: none (shared by the practice).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="mailboxes"
    )
    display_name = models.CharField("nom affiché", max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # IMAP synchronisation state (§4): UIDVALIDITY of INBOX and the highest UID already stored.
    uid_validity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address


class OutboundMessage(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "en attente"
        SENT = "sent", "envoyé"
        DELIVERED = "delivered", "remis"
        READ = "read", "lu"
        INTEGRATED = "integrated", "intégré"
        ERROR = "error", "erreur"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="sent_messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The stored documents attached (XDM + PDF each); empty for a plain message to a patient.
    documents = models.ManyToManyField("documents.Document", blank=True, related_name="mss_messages")
    delivery = models.OneToOneField(
        "core.Delivery", null=True, blank=True, on_delete=models.PROTECT, related_name="mss_message"
    )
    message_id = models.CharField(max_length=250, unique=True)  # RFC 5322 Message-ID, without <>
    in_reply_to = models.CharField(max_length=250, blank=True)
    references = models.TextField(blank=True)
    subject = models.CharField(max_length=500)
    body_text = models.TextField(blank=True)
    to_patient = models.BooleanField(default=False)  # MSS Citoyenne (§3)
    ends_conversation = models.BooleanField(default=False)  # X-MSS-MES: FIN (SC.MSS/CONF.21)
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    state_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject} <{self.message_id}>"


class OutboundRecipient(models.Model):
    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="recipients")
    address = models.EmailField(max_length=254)
    display_name = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=OutboundMessage.State.choices, default=OutboundMessage.State.QUEUED)
    state_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["message", "address"], name="mss_recipient_once")]

    def __str__(self) -> str:
        return f"{self.address} ({self.state})"


class InboundMessage(models.Model):
    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        DSN = "dsn", "Avis de remise (DSN)"
        MDN = "mdn", "Accusé de lecture (MDN)"

    class Source(models.TextChoices):
        IMAP = "imap", "Messagerie"
        IMPORT = "import", "Import de fichier"

    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, on_delete=models.PROTECT, related_name="received")
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.IMAP)
    kind = models.CharField(max_length=7, choices=Kind.choices, default=Kind.MESSAGE)
    uid_validity = models.BigIntegerField(null=True, blank=True)
    uid = models.BigIntegerField(null=True, blank=True)
    message_id = models.CharField(max_length=250, blank=True, db_index=True)
    in_reply_to = models.CharField(max_length=250, blank=True)
    sender = models.CharField(max_length=254, blank=True)
    sender_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=500, blank=True)  # as received; the UI hides `XDM/1.0/DDM+` (UX.28)
    body_text = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    # MSS Citoyenne (UX.25/31): a message from <matricule>@patient.mssante.fr and the patient it maps to.
    from_patient = models.BooleanField(default=False)
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The raw message (or imported file), relative to the document store; the message itself is always kept (§8).
    raw_path = models.CharField(max_length=300, blank=True)
    size = models.BigIntegerField(default=0)
    # Disposition-Notification-To of the original (an MDN is returned only when asked, RFC 8098).
    mdn_to = models.CharField(max_length=254, blank=True)
    mdn_sent = models.BooleanField(default=False)
    is_read = models.BooleanField(default=False)
    # Anything wrong with the message as a whole (malformed MIME, too large…): kept, reason shown.
    error = models.TextField(blank=True)
    # For the full-text search (normalised subject + body + sender), see caducee.core.text.
    search_text = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "uid_validity", "uid"],
                condition=models.Q(uid__isnull=False),
                name="mss_inbound_uid_once",
            )
        ]
        indexes = [models.Index(fields=["mailbox", "is_read", "-received_at"], name="mss_inbox")]

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"


class ReceivedDocument(models.Model):
    class State(models.TextChoices):
        FILED = "filed", "intégré"
        WORKLIST = "worklist", "à rattacher"
        QUARANTINED = "quarantined", "en quarantaine"
        DUPLICATE = "duplicate", "déjà reçu"

    message = models.ForeignKey(InboundMessage, on_delete=models.CASCADE, related_name="documents")
    filename = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=11, choices=State.choices)
    reason = models.TextField(blank=True)  # why quarantined / why not filed automatically
    # From the CDA header: ClinicalDocument/id, setId, versionNumber, code, title.
    unique_id = models.CharField(max_length=120, blank=True, db_index=True)
    set_id = models.CharField(max_length=120, blank=True)
    version_number = models.PositiveIntegerField(default=1)
    type_code = models.CharField(max_length=20, blank=True)
    title = models.CharField(max_length=300, blank=True)
    # The patient as the document describes them: ins_matricule, ins_oid, birth_name, first_given_name,
    # given_names, birth_date (YYYY-MM-DD), sex, and whether the INS was checked with INSi (R52/R53/R55).
    patient_traits = models.JSONField(default=dict, blank=True)
    # Work list: [{"patient": id, "score": 0–100, "reasons": [...]}, …], best first; recomputed when identities change.
    candidates = models.JSONField(default=list, blank=True)
    best_score = models.PositiveSmallIntegerField(default=0)
    # The identity changes up to this instant are in the candidates (`mss.worklist`: a document is scored again
    # once an identity changed after it, UX.15); None: to be scored at the next rescoring.
    scored_at = models.DateTimeField(null=True, blank=True)
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    document = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="received_from"
    )
    # Where the CDA (and PDF) sit while waiting in the work list, relative to the document store.
    stored_path = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "-best_score"], name="mss_worklist")]

    def __str__(self) -> str:
        return f"{self.title or self.filename} ({self.state})"


class DirectoryEntry(models.Model):
    """One MSSanté mailbox of the public directory (Extraction_Correspondance_MSSante or Annuaire Santé FHIR)."""

    address = models.EmailField(max_length=254, unique=True)
    kind = models.CharField(max_length=3, choices=MailboxKind.choices, blank=True)
    national_id = models.CharField("identifiant national PP", max_length=20, blank=True, db_index=True)  # 8+RPPS
    civility = models.CharField(max_length=20, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    given_name = models.CharField(max_length=100, blank=True)
    profession_code = models.CharField(max_length=10, blank=True)
    profession = models.CharField(max_length=120, blank=True)
    specialty_code = models.CharField(max_length=10, blank=True)
    specialty = models.CharField(max_length=200, blank=True)
    organisation = models.CharField(max_length=200, blank=True)
    service = models.CharField(max_length=200, blank=True)
    address_line = models.CharField(max_length=300, blank=True)
    postal_code = models.CharField(max_length=10, blank=True)
    city = models.CharField(max_length=100, blank=True)
    # Normalised (caducee.core.text) "NOM PRENOM ORGANISATION" for prefix search, and city/specialty keys.
    search_name = models.CharField(max_length=300)
    search_city = models.CharField(max_length=100, blank=True)
    search_specialty = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=10, default="extraction")  # extraction | fhir
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["search_name"]
        # Name prefix ranges alone or within a city / a specialty (bench/bench_annuaire.py: p95 < 4 ms on 500,000 rows).
        indexes = [
            models.Index(fields=["search_name"], name="mss_directory_name"),
            models.Index(fields=["search_city", "search_name"], name="mss_directory_city_name"),
            models.Index(fields=["search_specialty", "search_name"], name="mss_directory_specialty_name"),
        ]

    def __str__(self) -> str:
        return f"{self.family_name} {self.given_name} <{self.address}>".strip()
