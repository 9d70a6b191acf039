"""`caducee worker`: sends the outbox's due deliveries until SIGTERM or Ctrl-C (graceful)."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from caducee.core.outbox import registered_channels, run_workers


class Command(BaseCommand):
    help = "Envoie les documents en attente (DMP, messagerie…) ; s'arrête proprement sur SIGTERM ou Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="traite un lot puis s'arrête")
        parser.add_argument("--until-idle", action="store_true", help="s'arrête quand plus rien n'est à envoyer")
        parser.add_argument(
            "--threads", type=int, default=1, help="envois menés en parallèle par ce processus (défaut : 1)"
        )
        parser.add_argument(
            "--sleep", type=float, default=0.2, help="attente entre deux recherches quand rien n'est dû (secondes)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            if stop.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt  # second Ctrl-C: stop now
            stop.set()
            self.stderr.write("Arrêt demandé : fin de l'envoi en cours…")

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if not registered_channels():
                self.stderr.write("Aucun canal d'envoi n'est configuré : rien ne sera envoyé.")
            stats = run_workers(
                threads=options["threads"],
                once=options["once"],
                until_idle=options["until_idle"],
                sleep=options["sleep"],
                stop_event=stop,
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"Envois : {stats.sent} envoyé(s), {stats.failed} en échec, {stats.rejected} rejeté(s).")
