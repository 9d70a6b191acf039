"""`caducee sandbox`: run the local stand-ins of the national services until Ctrl-C (or SIGTERM).

* `caducee sandbox [--port N] [--dmp-port N] [--host H] [--only SERVICE …]`: start them, publish their endpoint
  settings in DATA_DIR/sandbox.env (read at start-up by Caducée with CADUCEE_SANDBOX=1), remove it at the stop.
* `caducee sandbox annuaire-extraction FICHIER [--rows N] [--seed S]`: write a synthetic Extraction_Correspondance_
  MSSante file (fictitious people; for the demo and the benchmarks), to import with `caducee annuaire import`.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.sandbox.runner import SERVICES, start_sandboxes


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # the stand-ins depend on nothing the product's checks look at
    help = (
        "Lance les bacs à sable des services nationaux (INSi, DMP, Pro Santé Connect, opérateur MSSanté, Annuaire "
        "Santé) en avant-plan et écrit leurs réglages dans DATA_DIR/sandbox.env ; Ctrl-C pour arrêter. "
        "`annuaire-extraction FICHIER` écrit une extraction MSSanté synthétique."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=0, help="Port du bac à sable INSi (0 = port libre, comme les autres)."
        )
        parser.add_argument("--dmp-port", type=int, default=0, help="Port du bac à sable DMP (0 = port libre).")
        parser.add_argument("--host", default="127.0.0.1", help="Adresse d'écoute (boucle locale par défaut).")
        parser.add_argument(
            "--only",
            action="append",
            choices=SERVICES,
            metavar="SERVICE",
            help=f"Ne lancer que ce service ({', '.join(SERVICES)} ; répétable). Par défaut : tous.",
        )
        sub = parser.add_subparsers(dest="action", metavar="{annuaire-extraction}")
        extraction = sub.add_parser(
            "annuaire-extraction", help="écrit une extraction MSSanté synthétique (personnes fictives)"
        )
        extraction.add_argument("file", metavar="FICHIER")
        extraction.add_argument("--rows", type=int, default=10_000)
        extraction.add_argument("--seed", default="2026")

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("action") == "annuaire-extraction":
            self._extraction(options)
            return
        # `kill` (SIGTERM) stops as cleanly as Ctrl-C, sandbox.env removed — from before the start, so a process that
        # waits for the file and then stops us (`caducee insi` on a fresh data dir) never leaves it behind.
        previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
        try:
            self._run(options)
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _run(self, options: dict[str, Any]) -> None:
        handle = start_sandboxes(
            Path(settings.DATA_DIR),
            host=options["host"],
            port=options["port"],
            dmp_port=options["dmp_port"],
            services=options["only"] or SERVICES,
            reference_dir=Path(settings.REFERENCE_DIR) if settings.REFERENCE_DIR else None,
        )
        try:
            self.stdout.write(self.style.SUCCESS("Bacs à sable démarrés :"))
            for name, url in handle.urls.items():
                self.stdout.write(f"  {name} : {url}")
            self.stdout.write(f"  réglages (adresses, certificats) : {handle.settings_file}")
            self.stdout.write(
                "Caducée les lit à son démarrage avec CADUCEE_SANDBOX=1 : lancez-le (ou relancez-le) maintenant."
            )
            self.stdout.write("Ctrl-C pour arrêter.")
            self.wait_for_interrupt()
        finally:
            handle.stop()
            self.stdout.write("Bacs à sable arrêtés.")

    def wait_for_interrupt(self) -> None:
        threading.Event().wait()

    def _extraction(self, options: dict[str, Any]) -> None:
        from caducee.sandbox.annuaire import generate_extraction

        if options["rows"] < 1:
            raise CommandError("--rows doit être positif.")
        rows = generate_extraction(options["file"], rows=options["rows"], seed=options["seed"])
        self.stdout.write(f"{rows} lignes écrites dans {options['file']}.")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
