"""`caducee bench-data --patients N [--seed S]`: load a synthetic practice into the configured database."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from caducee.core.dbcheck import ensure_migrated, pending_migrations
from caducee.patients.models import Patient
from caducee.patients.synthetic import generate_practice


class Command(BaseCommand):
    help = (
        "Génère une patientèle synthétique réaliste (identités fictives, matricules INS de démonstration "
        "OID 1.2.250.1.213.1.4.11) dans la base configurée, pour les mesures de performance."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--patients", type=int, required=True, help="nombre de patients à créer")
        parser.add_argument("--seed", type=int, default=1, help="graine : même graine, mêmes patients")
        parser.add_argument(
            "--force",
            action="store_true",
            help="accepter une base qui contient déjà des patients réels (non synthétiques)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["patients"]
        if count < 1:
            raise CommandError("--patients doit être au moins 1.")
        if pending_migrations():
            self.stdout.write("Base non à jour : application des migrations…")
            ensure_migrated(auto=True)
        # Fictitious patients have no place in a real patientèle: refuse unless asked explicitly.
        real = Patient.objects.filter(identity__from_sandbox=False).count()
        if real and not options["force"]:
            raise CommandError(
                f"La base contient {real} patient(s) non synthétique(s) : refus d'y mêler des patients "
                "fictifs. Utilisez une base dédiée (CADUCEE_DATA_DIR ou DATABASE_URL) ou --force."
            )
        before = Patient.objects.count()
        started = time.monotonic()
        step = max(10_000, count // 10)

        def progress(done: int) -> None:
            if done % step < 2000 or done == count:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.stdout.write(f"  {done:>9,} / {count:,} patients ({rate:,.0f}/s)".replace(",", " "))

        created = generate_practice(patients=count, seed=options["seed"], progress=progress)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"{created} patients synthétiques créés en {elapsed:.1f} s ({created / elapsed:.0f} patients/s, "
                f"graine {options['seed']}) dans {connection.vendor} ({connection.settings_dict['NAME']}) ; "
                f"{before + created} patients au total."
            )
        )
