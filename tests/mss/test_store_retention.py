"""Issue 13 §4: quarantined and oversized received files are kept `MSS_QUARANTINE_DAYS` (90 by default), then their
files are deleted — the rows stay, with the reason and the date of the deletion — by `caducee mss purge` and once a
day by the sync loop, audited. Before the fix they were kept without limit: every test here failed."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from caducee.core.models import AuditEvent
from caducee.mss import store, sync
from caducee.mss.intake import ingest_bytes
from caducee.mss.models import InboundMessage, ReceivedDocument
from caducee.mss.retention import quarantine_purge
from caducee.mss.worklist import worklist_discard
from tests.mss import hostile

pytestmark = pytest.mark.django_db

LATER = dt.timedelta(days=91)


@pytest.fixture
def data_dir(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return tmp_path


@pytest.fixture
def vsm(practice, doctor, make_patient) -> bytes:  # type: ignore[no-untyped-def]
    return hostile.vsm_cda(practice, doctor, make_patient())


def _in_quarantine(vsm: bytes) -> tuple[InboundMessage, ReceivedDocument]:
    """A mail whose only attachment is refused (a CDA not in UTF-8): the CDA and the mail both kept."""
    inbound = ingest_bytes(hostile.mail(attachments=[("IHE_XDM.zip", hostile.latin1_cda_zip(vsm), "application/zip")]))
    (received,) = inbound.documents.all()
    assert received.state == ReceivedDocument.State.QUARANTINED and received.stored_path
    return inbound, received


def _exists(relative: str) -> bool:
    return store.store_path(relative).is_file()


def test_quarantined_document_and_its_mail_are_deleted_after_90_days_the_rows_stay(data_dir, vsm) -> None:  # type: ignore[no-untyped-def]
    inbound, received = _in_quarantine(vsm)
    document_file, raw_file = received.stored_path, inbound.raw_path
    size = store.stored_size(document_file) + store.stored_size(raw_file)

    kept = quarantine_purge(now=timezone.now() + dt.timedelta(days=89))  # default: settings, 90 days
    assert (kept.documents, kept.messages, kept.freed) == (0, 0, 0)
    assert _exists(document_file) and _exists(raw_file)

    when = timezone.now() + LATER
    result = quarantine_purge(now=when)
    assert (result.days, result.documents, result.messages, result.freed) == (90, 1, 1, size)
    assert not _exists(document_file) and not _exists(raw_file)
    received.refresh_from_db()
    inbound.refresh_from_db()
    assert received.stored_path == "" and inbound.raw_path == ""
    assert received.state == ReceivedDocument.State.QUARANTINED and "UTF-8" in received.reason  # the why stays
    note = f"Fichier supprimé le {timezone.localdate(when):%d/%m/%Y} : quarantaine conservée 90 jours."
    assert received.reason.endswith(note) and inbound.error == note
    event = AuditEvent.objects.filter(action="mss.quarantine_purge").order_by("-id").first()
    assert event is not None
    assert event.actor_label == "système"
    assert event.detail | {"avant": ""} == {"jours": 90, "documents": 1, "messages": 1, "octets": size, "avant": ""}

    again = quarantine_purge(now=when)  # nothing left: a second run changes nothing
    assert (again.documents, again.messages) == (0, 0)


def test_an_oversized_message_is_purged_a_plain_message_is_not(data_dir, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MSS_MAX_MESSAGE_BYTES = 10_000
    huge = ingest_bytes(hostile.mail(attachments=[("gros.pdf", b"%PDF-" + b"x" * 20_000, "application/pdf")]))
    plain = ingest_bytes(hostile.mail(subject="Question", body="Bonjour docteur."))
    assert "trop volumineux" in huge.error and not plain.error
    settings.MSS_QUARANTINE_DAYS = 30
    result = quarantine_purge(now=timezone.now() + dt.timedelta(days=31))
    assert (result.days, result.documents, result.messages) == (30, 0, 1)
    huge.refresh_from_db()
    plain.refresh_from_db()
    assert huge.raw_path == "" and huge.error.startswith("message trop volumineux")
    assert "supprimé" in huge.error
    assert _exists(plain.raw_path)  # not quarantine: a message is kept


def test_a_mail_with_a_document_in_the_work_list_keeps_its_raw_copy(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    cda = hostile.vsm_cda(practice, doctor, make_patient())  # PROV identity: to the work list
    bad = hostile.latin1_cda_zip(hostile.vsm_cda(practice, doctor, make_patient(), ext="1002"))
    inbound = ingest_bytes(
        hostile.mail(
            attachments=[
                ("IHE_XDM.zip", hostile.xdm_of(cda, with_ins=False), "application/zip"),
                ("autre.zip", bad, "application/zip"),
            ]
        )
    )
    waiting = inbound.documents.get(state=ReceivedDocument.State.WORKLIST)
    refused = inbound.documents.get(state=ReceivedDocument.State.QUARANTINED)
    result = quarantine_purge(now=timezone.now() + LATER)
    assert (result.documents, result.messages) == (1, 0)
    assert not _exists(refused.stored_path)
    assert _exists(waiting.stored_path) and _exists(inbound.raw_path)


def test_the_delay_counts_from_when_a_user_put_the_document_aside(data_dir, practice, doctor, make_patient) -> None:  # type: ignore[no-untyped-def]
    cda = hostile.vsm_cda(practice, doctor, make_patient())
    inbound = ingest_bytes(hostile.xdm_of(cda, with_ins=False), source="import")
    (received,) = inbound.documents.all()
    InboundMessage.objects.filter(pk=inbound.pk).update(received_at=timezone.now() - dt.timedelta(days=200))
    ReceivedDocument.objects.filter(pk=received.pk).update(created_at=timezone.now() - dt.timedelta(days=200))
    received.refresh_from_db()
    worklist_discard(actor=doctor, received=received, reason="pas pour ce cabinet")  # quarantined today
    result = quarantine_purge()
    assert (result.documents, result.messages) == (0, 0)
    assert _exists(received.stored_path) and _exists(inbound.raw_path)
    assert quarantine_purge(now=timezone.now() + LATER).documents == 1


def test_dry_run_counts_and_changes_nothing(data_dir, vsm) -> None:  # type: ignore[no-untyped-def]
    inbound, received = _in_quarantine(vsm)
    result = quarantine_purge(dry_run=True, now=timezone.now() + LATER)
    assert (result.documents, result.messages) == (1, 1) and result.freed > 0
    assert "seraient supprimés" in result.as_text()
    assert _exists(received.stored_path) and _exists(inbound.raw_path)
    assert not AuditEvent.objects.filter(action="mss.quarantine_purge").exists()


def test_a_file_already_gone_does_not_stop_the_purge(data_dir, vsm) -> None:  # type: ignore[no-untyped-def]
    """A purge stopped between the file and the row: the next one completes the row."""
    _, received = _in_quarantine(vsm)
    store.store_path(received.stored_path).unlink()
    assert quarantine_purge(now=timezone.now() + LATER).documents == 1
    received.refresh_from_db()
    assert received.stored_path == ""


def test_purge_command(data_dir, vsm) -> None:  # type: ignore[no-untyped-def]
    inbound, received = _in_quarantine(vsm)
    out = StringIO()
    call_command("mss", "purge", "--days", "1", "--dry-run", stdout=out)
    assert out.getvalue().strip() == (
        "Quarantaine de plus de 1 jours : fichiers de 0 document(s) et de 0 message(s) seraient supprimés (0,0 Ko)."
    )
    with pytest.raises(CommandError, match="au moins un jour"):
        call_command("mss", "purge", "--days", "0")
    InboundMessage.objects.filter(pk=inbound.pk).update(received_at=timezone.now() - dt.timedelta(days=3))
    ReceivedDocument.objects.filter(pk=received.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    out = StringIO()
    call_command("mss", "purge", "--days", "2", stdout=out)
    assert "fichiers de 1 document(s) et de 1 message(s) supprimés" in out.getvalue()
    assert not _exists(received.stored_path)


def test_the_sync_loop_purges_once_a_day_and_goes_on_when_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[int] = []
    purges: list[int] = []

    def purge(**kwargs: Any) -> Any:
        purges.append(1)
        if len(purges) == 1:
            raise OSError("disque illisible")
        return quarantine_purge(dry_run=True)

    monkeypatch.setattr(sync, "sync_all", lambda: passes.append(1))
    monkeypatch.setattr(sync, "quarantine_purge", purge)
    sync.sync_forever(interval=0, stop=lambda: len(passes) >= 3)
    assert len(purges) == 1  # at the start, then not before a day
    sync.sync_forever(interval=0, stop=lambda: len(passes) >= 6, purge_every=0)
    assert len(purges) == 1 + 3  # the first failed: logged, the loop went on


@pytest.mark.parametrize(("value", "expected"), [(None, "90"), ("365", "365"), ("0", "minimum 1"), ("trois", "entier")])
def test_the_delay_setting_is_read_strictly(tmp_path: Path, value: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CADUCEE_MSS_QUARANTINE_DAYS")}
    env.update(CADUCEE_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="caducee.config.settings")
    if value is not None:
        env["CADUCEE_MSS_QUARANTINE_DAYS"] = value
    code = "from django.conf import settings; print(settings.MSS_QUARANTINE_DAYS)"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert expected in (run.stdout if run.returncode == 0 else run.stderr)
    assert (run.returncode == 0) == expected.isdigit()
