"""How long quarantined received files are kept (issue 13 §4): `settings.MSS_QUARANTINE_DAYS` (90 days by default).

Hostile, broken or oversized input is kept for whoever inspects it (§8), but not without limit. After that time
`quarantine_purge` deletes the files — never the database rows: the inbox still shows who sent what, when, and why
it was refused, with « fichier supprimé le JJ/MM/AAAA » added to the reason. What goes:

- the CDA (and its PDF) of a received document in quarantine (`documents/…`), counted from the day it was put in
  quarantine (received, or put aside by a user: `resolved_at`);
- the raw message or imported file (`raw/…`) quarantined as a whole: kept unanalysed (too large, malformed MIME, not
  recognised, internal error: `InboundMessage.error`), or every document of which is in quarantine (and was for the
  whole time). A message with a document filed in a chart, waiting in the work list or recognised as a duplicate
  keeps its raw copy: it is that document's source. Messages without a document (a patient's text, a receipt) are
  not quarantine and stay.

Run by `caducee mss purge [--days N] [--dry-run]` and once a day by `caducee mss sync --loop`; each real run is
audited (`mss.quarantine_purge`: the delay, the counts, the bytes freed). Files first, then the row: a run stopped in
between leaves a row naming a file already gone, which the next run completes (`store.remove` ignores a missing
file); the rows are read by chunks, never through an open cursor (core.batches).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from caducee.core.audit import audit_record
from caducee.core.batches import in_chunks
from caducee.core.dates import french_date
from caducee.mss import store
from caducee.mss.models import InboundMessage, ReceivedDocument


@dataclass
class PurgeResult:
    days: int
    dry_run: bool
    documents: int = 0  # quarantined documents whose file was deleted
    messages: int = 0  # quarantined messages whose raw copy was deleted
    freed: int = 0  # bytes

    def as_text(self) -> str:
        """One French line for the command and the logs."""
        verb = "seraient supprimés" if self.dry_run else "supprimés"
        return (
            f"Quarantaine de plus de {self.days} jours : fichiers de {self.documents} document(s) et de "
            f"{self.messages} message(s) {verb} ({_size(self.freed)})."
        )


def _size(count: int) -> str:
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} Ko".replace(".", ",")
    return f"{count / (1024 * 1024):.1f} Mo".replace(".", ",")


def quarantine_cutoff(*, days: int, now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=days)


def purgeable_documents(cutoff: dt.datetime) -> Any:
    """Quarantined documents with a file, in quarantine since before `cutoff`."""
    since = Q(resolved_at__lt=cutoff) | Q(resolved_at__isnull=True, created_at__lt=cutoff)
    return ReceivedDocument.objects.filter(since, state=ReceivedDocument.State.QUARANTINED).exclude(stored_path="")


def purgeable_messages(cutoff: dt.datetime) -> Any:
    """Messages quarantined as a whole (see the module docstring), received before `cutoff`, with their raw copy."""
    documents = ReceivedDocument.objects.filter(message=OuterRef("pk"))
    kept_for = documents.exclude(state=ReceivedDocument.State.QUARANTINED)  # a filed, waiting or duplicate document
    recent = documents.filter(resolved_at__gte=cutoff)  # put in quarantine by a user lately
    return (
        InboundMessage.objects.filter(received_at__lt=cutoff)
        .exclude(raw_path="")
        .filter(~Q(error="") | Exists(documents))
        .exclude(Exists(kept_for))
        .exclude(Exists(recent))
    )


def quarantine_purge(
    *, actor: Any = None, days: int | None = None, dry_run: bool = False, now: dt.datetime | None = None
) -> PurgeResult:
    """Delete the files of what has been in quarantine more than `days` (settings.MSS_QUARANTINE_DAYS by default).

    `dry_run`: count what would go (files and bytes), change nothing, record nothing.
    """
    days = int(settings.MSS_QUARANTINE_DAYS if days is None else days)
    if days < 1:
        raise ValueError("La durée de conservation de la quarantaine est d'au moins un jour.")
    moment = now or timezone.now()
    cutoff = quarantine_cutoff(days=days, now=moment)
    result = PurgeResult(days=days, dry_run=dry_run)
    note = f"Fichier supprimé le {french_date(moment)} : quarantaine conservée {days} jours."

    for received in in_chunks(purgeable_documents(cutoff).only("pk", "stored_path", "reason")):
        relative = received.stored_path
        if dry_run:
            result.freed += store.stored_size(relative)
        else:
            result.freed += store.remove(relative)
            ReceivedDocument.objects.filter(pk=received.pk, stored_path=relative).update(
                stored_path="", reason=_noted(received.reason, note)
            )
        result.documents += 1

    for inbound in in_chunks(purgeable_messages(cutoff).only("pk", "raw_path", "error")):
        relative = inbound.raw_path
        if dry_run:
            result.freed += store.stored_size(relative)
        else:
            result.freed += store.remove(relative)
            InboundMessage.objects.filter(pk=inbound.pk, raw_path=relative).update(
                raw_path="", error=_noted(inbound.error, note)
            )
        result.messages += 1

    if not dry_run:
        audit_record(
            actor=actor,
            action="mss.quarantine_purge",
            object_type="mss_store",
            detail={
                "jours": days,
                "avant": cutoff.isoformat(),
                "documents": result.documents,
                "messages": result.messages,
                "octets": result.freed,
            },
        )
    return result


def _noted(text: str, note: str) -> str:
    return f"{text.rstrip()} — {note}" if text.strip() else note
