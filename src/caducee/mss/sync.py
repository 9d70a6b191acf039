"""IMAP synchronisation of the practice's mailboxes (issue 5 §4): tracked by UID, streamed to disk, never stopped.

For each active mailbox: an IMAP4rev1 session (`transport.imap_call`: STARTTLS + XOAUTH2, or PLAIN with the
certificate for an APP mailbox; reopened once if the server closed it, CONF.11), `SELECT INBOX`, then:

- UIDVALIDITY compared with the one stored: when the server changed it, every UID is new again (RFC 3501 §2.3.1.1),
  so `last_uid` restarts at 0 — the messages already taken in are recognised by their (mailbox, UIDVALIDITY, UID)
  only within one UIDVALIDITY, which is what the protocol guarantees;
- `UID SEARCH UID last_uid+1:*` (the answer always contains the highest UID, even an old one: filtered);
- one message at a time, oldest first: its size (RFC822.SIZE), then its content fetched with `BODY.PEEK[]` (the
  server does not mark it read) in slices of 4 MiB (`BODY.PEEK[]<offset.length>`) appended to a file of the message
  store — memory stays bounded whatever the message size (§9: < 200 MB);
- `intake.ingest_bytes` on that file and `last_uid` moved in the same transaction: a crash between the two replays
  the message, and the unique (mailbox, UIDVALIDITY, UID) makes the replay a no-op (never duplicated, never lost).

Errors (operator down, token refused, a message the server will not give) are written to `mailbox.last_error`, the
others mailboxes go on, and the loop of `caducee mss sync --loop` never stops.

Each pass ends by rescoring the work list (`worklist.rescore_worklist`): the documents scored before the latest
identity change get their candidates again (UX.15) — the identity services never call up into mss. The loop also
purges the quarantine once a day (`retention`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from imapclient import IMAPClient
from imapclient import exceptions as imap_errors

from caducee.mss import store
from caducee.mss.intake import ingest_bytes
from caducee.mss.models import InboundMessage, Mailbox
from caducee.mss.retention import quarantine_purge
from caducee.mss.transport import MssError, imap_call
from caducee.mss.worklist import rescore_worklist

log = logging.getLogger(__name__)

SLICE_BYTES = 4 * 1024 * 1024
MAX_PER_RUN = 500  # messages taken per mailbox and run; the next run goes on from last_uid


@dataclass
class SyncResult:
    mailbox: str
    fetched: int = 0
    uid_validity: int | None = None
    last_uid: int = 0
    reset: bool = False  # UIDVALIDITY changed
    error: str = ""
    messages: list[int] = field(default_factory=list)  # InboundMessage ids


class _MessageGone(Exception):
    """The server no longer has the message (expunged between SEARCH and FETCH)."""


def _uid_validity(client: IMAPClient) -> int:
    selected = client.select_folder("INBOX")
    value = selected.get(b"UIDVALIDITY")
    return int(value) if value is not None else 0


def _new_uids(client: IMAPClient, last_uid: int) -> list[int]:
    found = client.search(["UID", f"{last_uid + 1}:*"])
    return sorted(int(uid) for uid in found if int(uid) > last_uid)


def _fetch_to_file(client: IMAPClient, uid: int, path: Path) -> int:
    """Stream the message to `path` in slices; returns its size."""
    answer = client.fetch([uid], ["RFC822.SIZE"]).get(uid)
    if not answer or b"RFC822.SIZE" not in answer:
        raise _MessageGone(uid)
    size = int(answer[b"RFC822.SIZE"])
    written = 0
    with open(path, "wb") as handle:
        while written < size or (size == 0 and written == 0):
            part = client.fetch([uid], [f"BODY.PEEK[]<{written}.{SLICE_BYTES}>"]).get(uid) or {}
            data = next((v for k, v in part.items() if k.startswith(b"BODY[]")), None)
            if not data:
                break
            handle.write(data)
            written += len(data)
            if len(data) < SLICE_BYTES:
                break
    if written == 0 and size:
        raise _MessageGone(uid)
    return written


def _take(mailbox: Mailbox, client: IMAPClient, uid_validity: int, uid: int) -> InboundMessage:
    path = store.temp_file()
    try:
        _fetch_to_file(client, uid, path)
        with transaction.atomic():
            inbound = ingest_bytes(path, mailbox=mailbox, uid_validity=uid_validity, uid=uid)
            Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=uid, uid_validity=uid_validity)
        mailbox.last_uid = uid
        return inbound
    finally:
        path.unlink(missing_ok=True)  # adopted into raw/ by the intake, or a leftover of a failed fetch


def _run(mailbox: Mailbox, result: SyncResult, limit: int) -> Callable[[IMAPClient], None]:
    def action(client: IMAPClient) -> None:
        mailbox.refresh_from_db(fields=["uid_validity", "last_uid"])
        uid_validity = _uid_validity(client)
        if mailbox.uid_validity != uid_validity:
            result.reset = mailbox.uid_validity is not None
            Mailbox.objects.filter(pk=mailbox.pk).update(uid_validity=uid_validity, last_uid=0)
            mailbox.uid_validity, mailbox.last_uid = uid_validity, 0
        result.uid_validity = uid_validity
        for uid in _new_uids(client, mailbox.last_uid)[:limit]:
            try:
                inbound = _take(mailbox, client, uid_validity, uid)
            except _MessageGone:
                Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=uid)
                mailbox.last_uid = uid
                continue
            result.fetched += 1
            result.messages.append(inbound.pk)
        result.last_uid = mailbox.last_uid

    return action


def sync_mailbox(mailbox: Mailbox, *, limit: int = MAX_PER_RUN) -> SyncResult:
    """Take in the new messages of one mailbox; never raises for the operator's failures (see `last_error`)."""
    result = SyncResult(mailbox=mailbox.address, last_uid=mailbox.last_uid, uid_validity=mailbox.uid_validity)
    try:
        imap_call(mailbox, _run(mailbox, result, limit))
    except MssError as exc:
        result.error = str(exc)
    except (imap_errors.IMAPClientError, OSError) as exc:
        result.error = f"Synchronisation interrompue par le serveur MSSanté : {exc}"
    Mailbox.objects.filter(pk=mailbox.pk).update(last_sync_at=timezone.now(), last_error=result.error)
    mailbox.last_error = result.error
    if result.error:
        log.warning("MSS sync %s: %s", mailbox.address, result.error)
    return result


def sync_all() -> list[SyncResult]:
    """One pass over every active mailbox; a failing mailbox does not stop the others."""
    store.clear_temp()
    results = []
    for mailbox in Mailbox.objects.filter(is_active=True).order_by("id"):
        try:
            results.append(sync_mailbox(mailbox))
        except Exception as exc:  # a bug or the database: recorded, the other mailboxes still synchronised
            log.exception("MSS sync %s failed", mailbox.address)
            message = f"Erreur interne de synchronisation : {type(exc).__name__} : {exc}"
            Mailbox.objects.filter(pk=mailbox.pk).update(last_sync_at=timezone.now(), last_error=message[:2000])
            results.append(SyncResult(mailbox=mailbox.address, error=message))
    # SC.MSS/UX.15: the work list pulls the identity changes made since its documents were scored (by any process).
    try:
        rescore_worklist()
    except Exception:  # a bug or the database: logged, the synchronisation goes on; the next pass tries again
        log.exception("MSS work-list rescoring failed")
    return results


PURGE_EVERY = 24 * 3600.0  # seconds between two purges of the quarantine by the loop


def sync_forever(
    *, interval: float, stop: Callable[[], bool] = lambda: False, purge_every: float = PURGE_EVERY
) -> None:
    """`caducee mss sync --loop`: short polling every `interval` seconds; nothing stops it but `stop()`.

    Once a day (at its start, then every `purge_every` seconds) it also deletes the files kept in quarantine longer
    than settings.MSS_QUARANTINE_DAYS (`retention.quarantine_purge`, audited; issue 13 §4).
    """
    next_purge = time.monotonic()
    while not stop():
        started = time.monotonic()
        try:
            sync_all()
        except Exception:  # the database itself failed: wait and try again
            log.exception("MSS sync pass failed")
        if started >= next_purge:
            next_purge = started + purge_every
            try:
                log.info("MSS %s", quarantine_purge().as_text())
            except Exception:  # a bug, the disk or the database: logged, the sync goes on; tried again tomorrow
                log.exception("MSS quarantine purge failed")
        while not stop() and time.monotonic() - started < interval:  # a stop request is seen within 0.2 s
            time.sleep(0.2)
