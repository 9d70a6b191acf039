"""`caducee vsm --ald --out-dir DOSSIER` (or `--patient ID`): the VSM (CDA R2 N3) of every ALD patient, one file each.

Forfait structure: the VSM of ALD patients is an indicator (50/90 %), so a practice can produce them all at once.
Each file is `DOSSIER/<uniqueId>.xml` (uniqueId = root^extension, from the document sequence). Patients are
read by chunks (never the whole list in memory, and no read cursor left open while writing: `ald_patients`); a
patient with missing mandatory data (author RPPS, birthplace of a qualified identity…) is listed in plain French and
skipped, and a file is only ever written complete (temporary file, then an atomic rename). The files are not stored
in the document store: the consultation's "mettre à jour le VSM" does that.

`--send-dmp` (issue 4): each summary is also stored in the document store (`production.vsm_create`, as the
consultation's "mettre à jour le VSM" does: a new version replaces the previous one) and its DMP publication queued
in the same transaction (outbox, channel "dmp"; `caducee worker` sends it). A patient whose identity is not
qualified (R28) or who objected to the feed (SC.DMP/CONF.06) gets the summary stored but nothing queued, and is
reported (one line each, and a count). `--out-dir` is then optional (the stored CDA is also written there if given).

The model follows the practice setting `Practice.summary_model` (documents.production.summary_model): VSM 1.4 by
default, IPS-FR 2024.01 "Synthèse médicale" when the practice chose it.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from caducee.accounts.models import Practice, Role, User
from caducee.core.batches import in_chunks
from caducee.core.dbcheck import ensure_migrated
from caducee.dmp.selectors import dmp_feed_refusal
from caducee.dmp.services import DmpServiceError, dmp_delivery_enqueue
from caducee.documents.cda.entries import LabelCache
from caducee.documents.cda.header import DocumentIds, MissingDataError
from caducee.documents.production import summary_model, vsm_create
from caducee.documents.services import document_ids_new
from caducee.patients.models import Patient
from caducee.record.selectors import record_summary

CHUNK = 200


def ald_patients(today: dt.date) -> Iterator[Patient]:
    """Patients with an ALD in force today, in pk order, read by chunks (no list of every patient in memory).

    Each chunk is read whole before its patients are handed out (`core.batches.in_chunks`): the command writes as it
    reads, and an open read cursor made its writes fail with « database is locked » on SQLite as soon as the worker
    committed (issue 13 §4).
    """
    in_force = Q(alds__start__lte=today) & (Q(alds__end__isnull=True) | Q(alds__end__gte=today))
    ids = Patient.objects.filter(in_force).values("pk")
    return in_chunks(Patient.objects.filter(pk__in=ids).select_related("identity", "medecin_traitant"), size=CHUNK)


def write_atomically(path: Path, data: bytes) -> None:
    """Write the whole file or nothing (a crash never leaves half a document)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vsm-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_name(ids: DocumentIds) -> str:
    return f"{ids.unique_id_root}^{ids.unique_id_ext}.xml"


class Command(BaseCommand):
    help = (
        "Produit la synthèse médicale (VSM 1.4 ou IPS-FR selon le réglage du cabinet, CDA R2 niveau 3) des patients "
        "en ALD, un fichier par patient dans le dossier de sortie."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ald", action="store_true", help="tous les patients ayant une ALD en cours")
        parser.add_argument(
            "--patient", type=int, action="append", default=[], metavar="ID", help="un patient (répétable)"
        )
        parser.add_argument("--out-dir", type=Path, metavar="DOSSIER", help="dossier de sortie")
        parser.add_argument(
            "--send-dmp",
            action="store_true",
            help="enregistrer chaque synthèse dans le dossier et l'envoyer au DMP (identités qualifiées seulement)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["ald"] and not options["patient"]:
            raise CommandError("Indiquez --ald ou --patient ID.")
        if options["out_dir"] is None and not options["send_dmp"]:
            raise CommandError("Indiquez --out-dir DOSSIER (ou --send-dmp).")
        ensure_migrated(auto=False)
        practice = Practice.objects.first()
        if practice is None:
            raise CommandError("Aucun cabinet n'est configuré : lancez d'abord « caducee seed-demo ».")
        chosen = summary_model(practice)
        out_dir: Path | None = options["out_dir"]
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        send_dmp: bool = options["send_dmp"]
        queued = not_sent = 0
        started = time.perf_counter()
        now = timezone.now()
        today = timezone.localdate(now)
        # "The patient's médecin traitant, or the first médecin of the practice": read once.
        first_doctor = User.objects.filter(role=Role.MEDECIN, is_active=True).order_by("pk").first()

        patients: Iterator[Patient]
        if options["patient"]:
            wanted = set(options["patient"])
            found = Patient.objects.filter(pk__in=wanted).select_related("identity", "medecin_traitant")
            missing = wanted - {p.pk for p in found}
            if missing:
                raise CommandError(f"Patient(s) introuvable(s) : {', '.join(map(str, sorted(missing)))}.")
            patients = iter(found.order_by("pk"))
        else:
            patients = ald_patients(today)

        written = skipped = 0
        labels: LabelCache = {}  # official labels of codes, read once for the whole run
        for patient in patients:
            author = patient.medecin_traitant or first_doctor
            summary = record_summary(patient, on=today)
            problems = chosen.problems(summary=summary, practice=practice, author=author)
            if problems:
                skipped += 1
                who = f"{patient.identity.birth_name} {patient.identity.first_given_name}"
                self.stderr.write(f"Patient {patient.pk} ({who}) ignoré :")
                for problem in problems:
                    self.stderr.write(f"  - {problem}")
                continue
            assert author is not None  # chosen.problems reports a missing author
            if send_dmp:
                outcome = self._store_and_send(patient, author, out_dir)
                if outcome is None:
                    skipped += 1
                    continue
                written += 1
                if outcome:
                    queued += 1
                else:
                    not_sent += 1
                continue
            assert out_dir is not None
            ids = document_ids_new(practice=practice)
            xml = chosen.build(
                summary=summary, ids=ids, practice=practice, author=author, effective_time=now, label_cache=labels
            )
            write_atomically(out_dir / file_name(ids), xml)
            written += 1
        elapsed = time.perf_counter() - started
        produced = "VSM" if chosen.model == "vsm" else "synthèse(s) médicale(s) IPS-FR"
        if send_dmp:
            where = f" (et écrit(s) dans {out_dir})" if out_dir is not None else ""
            self.stdout.write(
                f"{written} {produced} enregistré(s){where}, {queued} envoi(s) au DMP mis en file d'attente, "
                f"{not_sent} patient(s) sans envoi au DMP (identité non qualifiée ou opposition), "
                f"{skipped} patient(s) ignoré(s) (données manquantes), en {elapsed:.1f} s."
            )
            return
        self.stdout.write(
            f"{written} {produced} écrit(s) dans {out_dir}, {skipped} patient(s) ignoré(s) (données manquantes), "
            f"en {elapsed:.1f} s."
        )

    def _store_and_send(self, patient: Patient, author: User, out_dir: Path | None) -> bool | None:
        """Store the summary and queue its DMP publication in one transaction. True: queued; False: stored but not
        sent (reported); None: nothing stored (reported)."""
        who = f"Patient {patient.pk} ({patient.identity.birth_name} {patient.identity.first_given_name})"
        reason = dmp_feed_refusal(patient)  # the one rule (R28, SC.DMP/CONF.06)
        try:
            with transaction.atomic():
                document = vsm_create(actor=author, patient=patient)
                if not reason:
                    dmp_delivery_enqueue(document=document, visibility=(), actor=author)
        except (MissingDataError, DmpServiceError) as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            self.stderr.write(f"{who} ignoré :")
            for problem in problems:
                self.stderr.write(f"  - {problem}")
            return None
        if out_dir is not None:
            write_atomically(out_dir / f"{document.unique_id}.xml", bytes(document.cda))
        if reason:
            self.stderr.write(f"{who} : synthèse enregistrée, rien envoyé au DMP — {reason}")
            return False
        return True
