"""`caducee import-terminology [--dir DIR] [--systems cim10,ccam,atc,edqm,ucum] [--demo]`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from caducee.core.dbcheck import ensure_migrated
from caducee.record.terminology import (
    DEFAULT_SYSTEMS,
    SYSTEMS,
    TerminologyError,
    import_demo_terminology,
    import_terminology,
)


class Command(BaseCommand):
    help = (
        "Charge les terminologies (CIM-10, CCAM, ATC, EDQM, UCUM ; CIS sur demande) depuis les fichiers SKOS "
        "de l'ANS (kit TestContenuCDA), ou la table compacte livrée avec Caducée (--demo). Rejouable sans risque."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dir", type=Path, help="dossier des fichiers <OID>.rdf (défaut : kit CI-SIS de REFERENCE_DIR)"
        )
        parser.add_argument(
            "--systems",
            default=",".join(DEFAULT_SYSTEMS),
            help=f"terminologies, séparées par des virgules, parmi {','.join(SYSTEMS)}",
        )
        parser.add_argument("--value-sets", type=Path, help="dossier des jeux de valeurs CI-SIS (libellés)")
        parser.add_argument("--bdpm", type=Path, help="dossier de la BDPM (CIS_bdpm.txt) pour --systems cis")
        parser.add_argument("--limit", type=int, help="ne lire que les N premiers codes de chaque fichier (essais)")
        parser.add_argument("--demo", action="store_true", help="charger la table compacte livrée (sans ../shared)")

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_migrated(auto=True)
        started = time.perf_counter()
        if options["demo"]:
            counts = import_demo_terminology()
            names = {s.oid: s.name for s in SYSTEMS.values()}
            for oid, count in counts.items():
                self.stdout.write(f"{names.get(oid, oid):<6} {count:>7} concepts")
        else:
            try:
                results = import_terminology(
                    directory=options["dir"],
                    systems=[s for s in options["systems"].split(",") if s.strip()],
                    value_set_dir=options["value_sets"],
                    bdpm_dir=options["bdpm"],
                    limit=options["limit"],
                )
            except TerminologyError as exc:
                raise CommandError(str(exc)) from exc
            for r in results:
                self.stdout.write(
                    f"{r.system:<6} {r.concepts:>7} concepts ({r.labelled} avec libellé, {r.deactivated} désactivés)"
                    f" — {r.path.name}"
                )
        self.stdout.write(f"Terminé en {time.perf_counter() - started:.1f} s.")
