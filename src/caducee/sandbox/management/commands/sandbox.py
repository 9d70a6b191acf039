"""`caducee sandbox [--port N]`: run the local stand-ins of the national services until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from caducee.sandbox.runner import start_sandboxes


class Command(BaseCommand):
    help = (
        "Lance les bacs à sable des services nationaux (INSi, DMP, opérateur MSSanté) en avant-plan, "
        "publie leurs adresses dans DATA_DIR/sandbox.json ; Ctrl-C pour arrêter."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=0,
            help="Port du bac à sable INSi (0 = port libre ; le DMP prend un port libre).",
        )
        parser.add_argument("--host", default="127.0.0.1", help="Adresse d'écoute (boucle locale par défaut).")

    def handle(self, *args: Any, **options: Any) -> None:
        handle = start_sandboxes(
            Path(settings.DATA_DIR),
            host=options["host"],
            port=options["port"],
            reference_dir=Path(settings.REFERENCE_DIR) if settings.REFERENCE_DIR else None,
        )
        self.stdout.write(self.style.SUCCESS("Bacs à sable démarrés :"))
        for name, url in handle.urls.items():
            self.stdout.write(f"  {name} : {url}")
        self.stdout.write(f"  adresses et certificats : {handle.state_file}")
        if not settings.SANDBOX:
            self.stdout.write(self.style.WARNING("Caducée n'utilisera ces services qu'avec CADUCEE_SANDBOX=1."))
        self.stdout.write("Ctrl-C pour arrêter.")
        # `kill` (SIGTERM) stops as cleanly as Ctrl-C: sandbox.json is removed.
        previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
        try:
            self.wait_for_interrupt()
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            handle.stop()
            self.stdout.write("Bacs à sable arrêtés.")

    def wait_for_interrupt(self) -> None:
        threading.Event().wait()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
