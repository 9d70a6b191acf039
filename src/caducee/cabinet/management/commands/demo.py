"""`caducee demo`: a fresh demo database, the sandbox services, demo data and the web server."""

from __future__ import annotations

import os
import subprocess
import sys
import webbrowser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from caducee.cabinet.demo import seed_demo
from caducee.cabinet.management.commands.seed_demo import print_logins
from caducee.core.webserver import run_gunicorn


class Command(BaseCommand):
    help = "Démonstration : base neuve (SQLite), services nationaux simulés, données de démo, serveur web."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--no-browser", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SANDBOX:
            raise CommandError("La démonstration exige CADUCEE_SANDBOX=1 (positionné par `caducee demo`).")
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
            raise CommandError("La démonstration utilise sa propre base SQLite : retirez DATABASE_URL.")
        call_command("migrate", interactive=False, verbosity=0)
        seed_demo()
        from caducee.core.endpoints import apply_endpoint_settings
        from caducee.sandbox.runner import start_sandboxes

        handle = start_sandboxes(settings.DATA_DIR)  # writes DATA_DIR/sandbox.env, read by the worker processes below
        apply_endpoint_settings(handle.settings)  # this process read its settings before: now, before the server forks
        # The offline MSSanté directory: a synthetic public extraction (the demo doctors' mailboxes first), imported
        # as a practice would import the real daily file (`caducee annuaire import`).
        from caducee.mss.annuaire.extraction import import_extraction
        from caducee.sandbox.annuaire import generate_extraction

        extraction = Path(settings.DATA_DIR) / "sandbox" / "Extraction_Correspondance_MSSante.txt"
        generate_extraction(extraction, rows=20_000)
        import_extraction(extraction)
        # The outbox worker sends what the users validate (DMP…): its own process, like in production.
        worker = subprocess.Popen(
            [sys.executable, "-m", "caducee.cli", "worker", "--threads", "2"], env=os.environ.copy()
        )
        # The MSSanté inbox is taken in every few seconds (IMAP by UID; documents filed or put in the work list).
        relever = subprocess.Popen(
            [sys.executable, "-m", "caducee.cli", "mss", "sync", "--loop", "--interval", "5"], env=os.environ.copy()
        )
        url = f"http://{options['bind']}/"
        self.stdout.write(self.style.SUCCESS(f"Caducée (démonstration) : {url}"))
        self.stdout.write(f"Données : {settings.DATA_DIR}")
        self.stdout.write(f"Services simulés : {', '.join(f'{k} {v}' for k, v in handle.urls.items())}")
        print_logins(self.stdout)
        if not options["no_browser"] and os.environ.get("DISPLAY"):
            webbrowser.open(url)
        try:
            run_gunicorn(bind=options["bind"], workers=2)
        finally:
            for process in (worker, relever):
                process.terminate()  # SIGTERM: the worker finishes the send in progress, then stops
            for process in (worker, relever):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
            handle.stop()
