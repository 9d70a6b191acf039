"""`caducee mss sync [--loop] [--interval S]`, `caducee mss rescore` and `caducee mss purge [--days N] [--dry-run]`.

`sync`: take in the new messages of the practice's MSSanté mailboxes. One pass by default (one line per mailbox:
messages taken in, or the error); `--loop` polls every `--interval` seconds (15 by default) until interrupted, a
failing mailbox or operator never stopping it (issue 5 §4, §8).
`rescore`: recompute every work-list document's candidates now (UX.15; each sync pass and the work-list screen
rescore those scored before the latest identity change).
`purge`: delete the files kept in quarantine longer than `--days` (settings.MSS_QUARANTINE_DAYS, 90 by default), the
rows staying (`mss.retention`; the sync loop does it once a day); `--dry-run` only counts.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.accounts.models import User
from caducee.core.dbcheck import ensure_migrated
from caducee.mss.retention import quarantine_purge
from caducee.mss.services import MssServiceError, mailbox_declare
from caducee.mss.sync import SyncResult, sync_all, sync_forever
from caducee.mss.worklist import rescore_worklist


def _line(result: SyncResult) -> str:
    if result.error:
        return f"{result.mailbox} : erreur — {result.error}"
    text = f"{result.mailbox} : {result.fetched} message(s) reçu(s) (dernier UID {result.last_uid})"
    if result.reset:
        text += " — UIDVALIDITY changée par le serveur : boîte relue depuis le début"
    return text


class Command(BaseCommand):
    help = "Messagerie MSSanté : synchronisation des boîtes aux lettres (IMAP)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{sync,rescore,boite,purge}")
        sub.add_parser("rescore", help="recalcule les scores de la liste de travail")
        box = sub.add_parser("boite", help="déclare (ou modifie) une boîte aux lettres MSSanté du cabinet")
        box.add_argument("adresse")
        box.add_argument("--type", default="PER", choices=["PER", "ORG", "APP", "CAB"])
        box.add_argument("--utilisateur", default="", help="identifiant du professionnel (boîte PER)")
        box.add_argument("--nom", default="", help="nom affiché")
        box.add_argument("--desactiver", action="store_true", help="n'est plus relevée ni utilisée pour envoyer")
        purge = sub.add_parser(
            "purge", help="supprime les fichiers en quarantaine depuis plus de --days jours (les lignes restent)"
        )
        purge.add_argument(
            "--days", type=int, default=None, metavar="N", help="durée de conservation (défaut : réglage, 90 jours)"
        )
        purge.add_argument("--dry-run", action="store_true", help="compte ce qui serait supprimé, sans rien supprimer")
        sync = sub.add_parser("sync", help="relève les nouveaux messages de chaque boîte active")
        sync.add_argument("--loop", action="store_true", help="relève en continu")
        sync.add_argument("--interval", type=float, default=15.0, metavar="S", help="secondes entre deux relèves")

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_migrated(auto=False)
        if options["action"] == "rescore":
            filed = rescore_worklist(every_document=True)
            self.stdout.write(f"Liste de travail recalculée : {filed} document(s) rattaché(s) automatiquement.")
            return
        if options["action"] == "boite":
            self._declare(options)
            return
        if options["action"] == "purge":
            if options["days"] is not None and options["days"] < 1:
                raise CommandError("--days : au moins un jour.")
            purged = quarantine_purge(days=options["days"], dry_run=options["dry_run"])
            self.stdout.write(purged.as_text())
            return
        if options["loop"]:
            self.stdout.write(f"Relève MSSanté toutes les {options['interval']:g} s (Ctrl+C pour arrêter).")
            stop = threading.Event()
            # SIGTERM (systemd, `caducee demo`): the pass in progress ends, then the loop stops.
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                sync_forever(interval=max(options["interval"], 1.0), stop=stop.is_set)
            except KeyboardInterrupt:
                pass
            self.stdout.write("Relève arrêtée.")
            return
        results = sync_all()
        if not results:
            self.stdout.write("Aucune boîte aux lettres MSSanté active.")
        for result in results:
            self.stdout.write(_line(result))

    def _declare(self, options: dict[str, Any]) -> None:
        owner = None
        if options["utilisateur"]:
            owner = User.objects.filter(username=options["utilisateur"]).first()
            if owner is None:
                raise CommandError(f"Utilisateur inconnu : {options['utilisateur']}")
        try:
            mailbox = mailbox_declare(
                actor=None,
                address=options["adresse"],
                kind=options["type"],
                owner=owner,
                display_name=options["nom"],
                active=not options["desactiver"],
            )
        except MssServiceError as exc:
            raise CommandError(str(exc)) from exc
        state = "active" if mailbox.is_active else "désactivée"
        self.stdout.write(f"Boîte {mailbox.address} ({mailbox.kind}) {state}.")
