"""Benchmark: MSSanté sending, inbox ingestion and synchronisation memory against the sandbox operator (issue 5 §9).

    .venv/bin/python bench/bench_mss.py [--patients 2000] [--sends 50] [--messages 200] [--large 5]

A fresh SQLite database in a temporary CADUCEE_DATA_DIR (removed at the end unless --keep), or the database of
DATABASE_URL (give it an empty one). The sandboxes run in their own process (`caducee sandbox`: the MSS operator
over SMTP/IMAP with STARTTLS and XOAUTH2 tokens from its endpoint), as in production the operator is remote. The
practice: `seed_demo` (dr.martin, dr.bernard, their demo mailboxes) and `generate_practice` (≈ 45 % QUAL identities
under the demo NIR OID, ~300 surnames: dense homonyms, so matching meets realistic candidate lists). Measured:

1. sending one document: a stored VSM of a QUAL patient, from dr.martin's mailbox to dr.bernard's: `mss_send(...)`
   then the outbox worker as `caducee worker` runs it (`run_worker(until_idle=True)`: claim, build the mail and its
   IHE_XDM.zip, SMTP STARTTLS + XOAUTH2, the submission accepted by the operator, the outcome recorded) — p50/p95
   over `--sends` sends (a first send, with its token request, is reported apart), target < 300 ms;
2. inbox ingestion: `--messages` mails from an outside doctor, each an IHE_XDM.zip holding a VSM of a QUAL patient
   of the practice (the product's builders: `build_vsm`, `xds_metadata`, `build_xdm`; an outside document root) and
   its PDF, asking for a read receipt, submitted over SMTP to the practice's mailbox; then `sync_mailbox` timed —
   IMAP fetch streamed to disk, MIME scan, XDM unpacking and checks, patient matching, R52, filing into the chart,
   the MDN queued — messages/s, target ≥ 20 msg/s; and `ingest_bytes` alone (the same work without IMAP) on as many
   other mails, messages/s and p50/p95 per message;
3. synchronisation memory: `--large` mails each carrying an IHE_XDM.zip and a large part of 15 to 30 MB (random
   bytes: a scan does not compress) — the document's PDF (stored with the document), then a file that is no document
   (a DICOM image, kept in the raw mail only) — synchronised by `sync_mailbox` in a child process reporting its own
   peak resident set (VmHWM of /proc/self/status, see `peak_rss_kb`), target < 200 MB; then as many such mails taken
   in without IMAP by another child (`ingest_bytes` on files, as `sync._take` once the mail is on disk), to tell the
   intake's memory from the transport's. The operator's SMTP refuses messages over 20 MiB (552 5.3.4), so the
   larger ones are put into its store as its own delivery does (`MssStore.append`); the client fetches all of them
   over IMAP alike.

A benchmark reports; it never fails: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench_common import percentile

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE_SENDER = "anne.leroy@demo.mssante.fr"  # the demo cardiologist (caducee.mss.demo), another practice
SENDER_ROOT = "1.2.250.1.999.77.1"  # an outside practice's document OID (never ours)
INGEST_UIDVALIDITY = 900_000_000  # mails taken in without IMAP: a UIDVALIDITY no server gave
SMTP_LIMIT = 20 * 1024 * 1024  # the sandbox operator's SIZE (caducee.sandbox.mss.smtp.MAX_MESSAGE_BYTES)
PDF_HEAD = b"%PDF-1.4\n% bench\n"
PDF_TAIL = b"\ntrailer <<>>\n%%EOF\n"
# Large attachments (3.): the document's PDF (stored with the document), or a file that is no document.
LARGE_KINDS = {
    "pdf": ("synthese.pdf", "PDF du document", "application/pdf"),
    "autre": ("examen.dcm", "fichier joint non documentaire", "application/dicom"),
}


def _setup(data_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caducee.config.settings")
    os.environ["CADUCEE_SANDBOX"] = "1"
    os.environ["CADUCEE_DATA_DIR"] = str(data_dir)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def _caducee(*args: str) -> list[str]:
    return [sys.executable, "-m", "caducee.cli", *args]


def start_sandbox(data_dir: Path) -> subprocess.Popen[bytes]:
    """`caducee sandbox` in its own process; returns once it published the MSS operator's settings
    (DATA_DIR/sandbox.env), which this process, started before it, then takes."""
    from caducee.core.endpoints import apply_endpoint_settings, read_settings_file

    published = data_dir / "sandbox.env"
    published.unlink(missing_ok=True)
    process = subprocess.Popen(_caducee("sandbox"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        values = read_settings_file(published)
        if "CADUCEE_MSS_SMTP_HOST" in values:
            apply_endpoint_settings(values)
            return process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit("le bac à sable ne démarre pas")


# --- received material --------------------------------------------------------------------------------------------


def vsm_xdm(practice: Any, author: Any, patient: Any, ext: str) -> bytes:
    """The IHE_XDM.zip of a VSM 1.4 of `patient` (product builders, outside document root `SENDER_ROOT`)."""
    import datetime as dt
    import uuid

    from caducee.documents.cda.header import DocumentIds
    from caducee.documents.cda.vsm import build_vsm
    from caducee.documents.xds import SubmissionInfo, xds_metadata
    from caducee.mss.xdm import build_xdm
    from caducee.record.selectors import record_summary

    def submission() -> SubmissionInfo:  # the other practice's submission set (its own OIDs)
        return SubmissionInfo(f"2.25.{uuid.uuid4().int}", "1.2.250.1.999.77.9", dt.datetime.now(dt.UTC))

    cda = build_vsm(
        summary=record_summary(patient),
        ids=DocumentIds(SENDER_ROOT, ext, SENDER_ROOT, ext, 1),
        practice=practice,
        author=author,
        effective_time=dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC),
    )
    entry = xds_metadata(cda, submission=submission())
    return build_xdm([entry], submission(), sender="Dr Anne LEROY", software="Autre logiciel 1.0")


def mail(
    to: str, patient: Any, xdm: bytes, attached: bytes, *, name: str = "synthese.pdf", mime: str = "application/pdf"
) -> bytes:
    """A mail as another practice's software sends it: XDM subject, read receipt asked, IHE_XDM.zip + `attached`
    (the document's PDF by default)."""
    from email.message import EmailMessage
    from email.utils import make_msgid

    from caducee.mss.compose import patient_label

    msg = EmailMessage()
    msg["From"] = f"Dr Anne LEROY <{OUTSIDE_SENDER}>"
    msg["To"] = to
    msg["Subject"] = f"XDM/1.0/DDM+Volet de synthèse médicale {patient_label(patient.identity)}"
    msg["Message-ID"] = make_msgid(domain="demo.mssante.fr")
    msg["X-MSS-NIL"] = "TEST"
    msg["Disposition-Notification-To"] = OUTSIDE_SENDER
    msg.set_content("Bonjour,\n\nVeuillez trouver ci-joint le volet de synthèse médicale.\n\nDr Anne LEROY")
    msg.add_attachment(xdm, maintype="application", subtype="zip", filename="IHE_XDM.zip")
    maintype, subtype = mime.split("/")
    msg.add_attachment(attached, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def small_pdf(rng: random.Random) -> bytes:
    return PDF_HEAD + rng.randbytes(40_000) + PDF_TAIL


def _outside_mailbox() -> Any:
    from caducee.mss.models import Mailbox, MailboxKind

    return Mailbox(address=OUTSIDE_SENDER, kind=MailboxKind.PER)  # not saved: only its address and kind are used


def submit(to: str, raws: list[bytes]) -> None:
    """Submit mails as the outside doctor over SMTP (STARTTLS, XOAUTH2), one session per 50 mails."""
    from caducee.mss.transport import smtp_session

    for start in range(0, len(raws), 50):
        with smtp_session(_outside_mailbox()) as smtp:
            for raw in raws[start : start + 50]:
                refused = smtp.sendmail(OUTSIDE_SENDER, [to], raw)
                if refused:
                    raise SystemExit(f"refusé par le bac à sable : {refused}")


def inbox_size(mailbox: Any) -> int:
    from caducee.mss.transport import imap_session

    with imap_session(mailbox) as client:
        return int(client.select_folder("INBOX")[b"EXISTS"])


def deposit(data_dir: Path, to: str, raw: bytes) -> None:
    """Put a mail over the SMTP limit into the operator's store, as its delivery does (same indexed fields)."""
    from caducee.sandbox.mss.service import message_meta
    from caducee.sandbox.mss.store import MssStore

    operator = MssStore(data_dir / "sandbox" / "mss.sqlite3")
    try:
        operator.append(to, message_meta(b"Return-Path: <" + OUTSIDE_SENDER.encode() + b">\r\n" + raw))
    finally:
        operator.close()


def states_of(message_ids: list[int]) -> Counter[str]:
    from caducee.mss.models import InboundMessage, ReceivedDocument

    states: Counter[str] = Counter(
        ReceivedDocument.objects.filter(message_id__in=message_ids).values_list("state", flat=True)
    )
    errors = Counter(
        InboundMessage.objects.filter(pk__in=message_ids).exclude(error="").values_list("error", flat=True)
    )
    for error, count in errors.items():
        states[f"erreur : {error[:150]}"] = count
    return +states


# --- child: the synchronisation whose memory is measured ------------------------------------------------------------


def peak_rss_kb() -> int:
    """This process's peak resident set (KiB): VmHWM, per address space. `ru_maxrss` is not used: across `execve`
    Linux keeps the forked parent's peak in it (`setmax_mm_hiwater_rss` in exec_mmap), a child started from a large
    parent would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(mode: str, mailbox_id: int, files: str) -> None:
    """Take in large mails and print JSON: messages, seconds, peak RSS at start-up and at the end (KiB).

    "sync": `sync_mailbox` of the mailbox (IMAP); "ingest": the mails of `files` (one per file) through exactly what
    `sync._take` does once the mail is on disk — copied into a temporary file of the store, `ingest_bytes` and the UID
    in one transaction — i.e. the intake's own memory, without the IMAP transport."""
    _setup(Path(os.environ["CADUCEE_DATA_DIR"]))
    from django.db import transaction

    from caducee.mss import store
    from caducee.mss.intake import ingest_bytes
    from caducee.mss.models import Mailbox
    from caducee.mss.sync import sync_mailbox

    mailbox = Mailbox.objects.get(pk=mailbox_id)
    rss_start = peak_rss_kb()
    started = time.perf_counter()
    fetched, ids, error = 0, [], ""
    if mode == "sync":
        while True:
            result = sync_mailbox(mailbox)
            fetched += result.fetched
            ids += result.messages
            if result.error or not result.fetched:
                error = result.error
                break
    else:
        for uid, source in enumerate(sorted(Path(files).iterdir()), start=1):
            path = store.temp_file()
            shutil.copyfile(source, path)
            with transaction.atomic():
                ids.append(ingest_bytes(path, mailbox=mailbox, uid_validity=INGEST_UIDVALIDITY, uid=uid).pk)
            path.unlink(missing_ok=True)
            fetched += 1
    seconds = time.perf_counter() - started
    rss_peak = peak_rss_kb()
    print(
        json.dumps(
            {
                "fetched": fetched,
                "seconds": seconds,
                "rss_start_kb": rss_start,
                "rss_peak_kb": rss_peak,
                "error": error,
                "states": dict(states_of(ids)),
            }
        )
    )


def run_child(mode: str, mailbox_id: int, files: Path | None = None) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(mailbox_id), str(files or "")],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return dict(json.loads(completed.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        print(completed.stdout, completed.stderr, sep="\n")
        raise SystemExit("le processus enfant a échoué") from None


# --- the benchmark --------------------------------------------------------------------------------------------------


def _ok(good: bool) -> str:
    return "✓" if good else "✗"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000, help="synthetic patients (≈ 45 %% QUAL)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sends", type=int, default=50, help="documents sent one by one (1.)")
    parser.add_argument("--messages", type=int, default=200, help="mails synchronised, and as many ingested (2.)")
    parser.add_argument("--large", type=int, default=5, help="large mails synchronised in a child process (3.)")
    parser.add_argument("--large-min-mb", type=float, default=15.0)
    parser.add_argument("--large-max-mb", type=float, default=30.0)
    parser.add_argument("--large-kinds", default="pdf,autre", help="pdf: the document's PDF; autre: a DICOM file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], int(options.child[1]), options.child[2])
        return

    data_dir = Path(tempfile.mkdtemp(prefix="caducee-bench-mss-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        _setup(data_dir)
        run(options, data_dir, processes)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        if options.keep:
            print(f"Données conservées dans {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(options: argparse.Namespace, data_dir: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from caducee.accounts.models import Practice, User
    from caducee.cabinet.demo import seed_demo
    from caducee.core.models import Delivery
    from caducee.core.outbox import run_worker
    from caducee.documents.production import vsm_create
    from caducee.identity.models import Status
    from caducee.mss import store
    from caducee.mss.demo import DEMO_MAILBOXES, PRACTICE_MAILBOX
    from caducee.mss.intake import ingest_bytes
    from caducee.mss.models import Mailbox, MailboxKind
    from caducee.mss.services import mss_send
    from caducee.mss.sync import sync_mailbox
    from caducee.patients.models import Patient
    from caducee.patients.synthetic import generate_practice

    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    print(f"Base : {engine} ; données : {data_dir} ; charge : {os.getloadavg()[0]:.2f}")
    call_command("migrate", interactive=False, verbosity=0)
    if Patient.objects.exists():
        raise SystemExit("La base contient déjà des patients : donnez une base vide (dropdb/createdb).")
    started = time.perf_counter()
    seed_demo(synthetic_patients=0)
    generate_practice(patients=options.patients, seed=options.seed)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum does shortly after a bulk load
    rng = random.Random(options.seed)
    qualified = list(
        Patient.objects.filter(identity__status=Status.QUAL, identity__ins_matricule__gt="")
        .select_related("identity")
        .order_by("pk")
    )
    print(
        f"Cabinet : {Patient.objects.count()} patients dont {len(qualified)} QUAL, "
        f"en {time.perf_counter() - started:.1f} s"
    )
    doctor = User.objects.get(username="dr.martin")
    colleague = User.objects.get(username="dr.bernard")
    practice = Practice.objects.get()
    box_a = Mailbox.objects.get(address=DEMO_MAILBOXES["dr.martin"])
    box_in = Mailbox.objects.get(address=PRACTICE_MAILBOX)

    processes.append(start_sandbox(data_dir))
    rows: list[tuple[str, str, str, str]] = []

    # 1. Sending one document.
    picks = rng.sample(qualified, options.sends + 1)
    documents = [vsm_create(actor=doctor, patient=p) for p in picks]
    send_ms, queue_ms, worker_ms = [], [], []
    failures = 0
    for index, (patient, document) in enumerate(zip(picks, documents, strict=True)):
        t0 = time.perf_counter()
        message = mss_send(
            actor=doctor,
            patient=patient,
            documents=[document],
            recipients=[DEMO_MAILBOXES["dr.bernard"]],
            mailbox=box_a,
        )
        t1 = time.perf_counter()
        run_worker(until_idle=True, sleep=0.05)
        t2 = time.perf_counter()
        assert message.delivery is not None
        message.delivery.refresh_from_db()
        if message.delivery.state != Delivery.State.SENT:
            failures += 1
            print(f"  envoi non accepté : {message.delivery.state} {message.delivery.last_error}")
        if index == 0:
            first_ms = (t2 - t0) * 1000
            continue
        send_ms.append((t2 - t0) * 1000)
        queue_ms.append((t1 - t0) * 1000)
        worker_ms.append((t2 - t1) * 1000)
    p50, p95 = statistics.median(send_ms), percentile(send_ms, 95)
    print(
        f"1. Envoi d'un VSM ({len(send_ms)} envois, {failures} non acceptés) : mss_send → soumission acceptée "
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms (mss_send p50 {statistics.median(queue_ms):.0f} ms, worker p50 "
        f"{statistics.median(worker_ms):.0f} ms, max {max(send_ms):.0f} ms) ; premier envoi (jeton) {first_ms:.0f} ms"
    )
    rows.append(("envoi d'un document, p50 / p95", "< 300 ms", f"{p50:.0f} / {p95:.0f} ms", _ok(p95 < 300)))

    # 2. Inbox ingestion: N mails over SMTP into the practice's mailbox, then one timed synchronisation.
    started = time.perf_counter()
    targets = [rng.choice(qualified) for _ in range(options.messages * 2)]
    raws = [
        mail(box_in.address, p, vsm_xdm(practice, colleague, p, f"bench-{i}"), small_pdf(rng))
        for i, p in enumerate(targets)
    ]
    synced, direct = raws[: options.messages], raws[options.messages :]
    before = inbox_size(box_in)
    submit(box_in.address, synced)
    held = inbox_size(box_in) - before
    print(
        f"   {len(raws)} messages construits, {held} déposés par SMTP en {time.perf_counter() - started:.1f} s "
        f"(taille moyenne {sum(map(len, synced)) / len(synced) / 1024:.0f} Kio)"
    )
    cpu0, t0 = time.process_time(), time.perf_counter()
    fetched, ids, error = 0, [], ""
    while fetched < held:
        result = sync_mailbox(box_in)
        fetched += result.fetched
        ids += result.messages
        if result.error or not result.fetched:
            error = result.error
            break
    sync_s, sync_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    sync_rate = fetched / sync_s
    print(
        f"2. Relève IMAP de {fetched} messages : {sync_s:.2f} s, {sync_rate:.1f} msg/s "
        f"({sync_s / fetched * 1000:.1f} ms/msg, CPU du processus {sync_cpu / fetched * 1000:.1f} ms/msg) ; "
        f"documents : {dict(states_of(ids))}{' ; erreur : ' + error if error else ''}"
    )
    rows.append(
        ("relève IMAP (XDM, rapprochement, classement)", "≥ 20 msg/s", f"{sync_rate:.1f} msg/s", _ok(sync_rate >= 20))
    )

    per_message, ids = [], []
    cpu0, t0 = time.process_time(), time.perf_counter()
    for uid, raw in enumerate(direct, start=1):
        m0 = time.perf_counter()
        path = store.temp_file()
        path.write_bytes(raw)
        with transaction.atomic():  # as sync._take: the intake and the UID in one transaction
            ids.append(ingest_bytes(path, mailbox=box_in, uid_validity=INGEST_UIDVALIDITY, uid=uid).pk)
        path.unlink(missing_ok=True)
        per_message.append((time.perf_counter() - m0) * 1000)
    ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ingest_rate = len(direct) / ingest_s
    print(
        f"   ingest_bytes seul ({len(direct)} messages, sans IMAP) : {ingest_rate:.1f} msg/s, p50 "
        f"{statistics.median(per_message):.1f} ms, p95 {percentile(per_message, 95):.1f} ms "
        f"(CPU {ingest_cpu / len(direct) * 1000:.1f} ms/msg) ; documents : {dict(states_of(ids))}"
    )
    rows.append(("ingest_bytes seul (sans IMAP)", "", f"{ingest_rate:.1f} msg/s", ""))

    # 3. Peak memory of a synchronisation of large mails, in a child process: the large part is the document's PDF
    # (kept with the document in the chart), then an attachment that holds no document (kept in the raw mail only).
    sizes_mb = [
        options.large_min_mb + (options.large_max_mb - options.large_min_mb) * i / max(1, options.large - 1)
        for i in range(options.large)
    ]
    for kind in options.large_kinds.split(","):
        name, label, mime = LARGE_KINDS[kind]
        box = Mailbox.objects.create(
            address=f"volumineux.{kind}@demo.mssante.fr", kind=MailboxKind.ORG, display_name="Volumineux"
        )
        routes: Counter[str] = Counter()
        biggest = 0
        files = data_dir / f"large-{kind}"  # the same kind of mails, other ids, for the intake alone
        files.mkdir()
        for i, size_mb in enumerate(sizes_mb):
            for copy in ("imap", "file"):
                patient = rng.choice(qualified)
                head, tail = (PDF_HEAD, PDF_TAIL) if kind == "pdf" else (b"\0" * 128 + b"DICM", b"")
                big = head + os.urandom(int(size_mb * 1_000_000)) + tail
                xdm = vsm_xdm(practice, colleague, patient, f"bench-{kind}-{copy}-{i}")
                raw = mail(box.address, patient, xdm, big, name=name, mime=mime)
                del big
                if copy == "file":
                    (files / f"{i:03d}.eml").write_bytes(raw)
                    continue
                biggest = max(biggest, len(raw))
                if len(raw) <= SMTP_LIMIT:
                    submit(box.address, [raw])
                    routes["SMTP"] += 1
                else:
                    deposit(data_dir, box.address, raw)
                    routes["magasin de l'opérateur"] += 1
                del raw
        synced_child = run_child("sync", box.pk)
        ingest_child = run_child("ingest", box.pk, files)
        peak_mb = synced_child["rss_peak_kb"] / 1024
        ingest_mb = ingest_child["rss_peak_kb"] / 1024
        print(
            f"3. Relève de {synced_child['fetched']} gros messages, {label} de "
            f"{', '.join(f'{s:.1f}' for s in sizes_mb)} Mo (plus gros message {biggest / 1_000_000:.1f} Mo ; "
            f"déposés : {dict(routes)}) dans un processus enfant : {synced_child['seconds']:.1f} s ; mémoire "
            f"résidente max {peak_mb:.0f} Mo (après démarrage {synced_child['rss_start_kb'] / 1024:.0f} Mo) ; "
            f"documents : {synced_child['states']}"
            f"{' ; erreur : ' + synced_child['error'] if synced_child['error'] else ''}"
        )
        print(
            f"   les mêmes sans IMAP (ingest_bytes de {ingest_child['fetched']} fichiers) : "
            f"{ingest_child['seconds']:.1f} s ; mémoire résidente max {ingest_mb:.0f} Mo "
            f"(après démarrage {ingest_child['rss_start_kb'] / 1024:.0f} Mo) ; documents : {ingest_child['states']}"
        )
        rows.append((f"mémoire max de la relève, {label}", "< 200 MB", f"{peak_mb:.0f} MB", _ok(peak_mb < 200)))
        rows.append(("  même chose, ingest_bytes seul (sans IMAP)", "", f"{ingest_mb:.0f} MB", ""))

    print()
    print(
        f"Résumé ({engine}, {options.patients} patients, charge {os.getloadavg()[0]:.2f}, SANDBOX={settings.SANDBOX})"
    )
    widths = [max(len(r[i]) for r in [("mesure", "cible", "mesuré", ""), *rows]) for i in range(4)]
    for row in [("mesure", "cible", "mesuré", ""), *rows]:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
