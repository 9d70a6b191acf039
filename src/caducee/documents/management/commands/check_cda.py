"""`caducee check-cda FICHIER… [--cisis DOSSIER]`: CI-SIS conformity of CDA documents (XSD + ANS schematrons).

Exit status: 0 when every document is conformant, 1 when at least one is not (or cannot be read), 2 when the
ANS kit is missing or unusable. Warnings never change the status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.documents.validation import CdaKitError, CdaValidator


class Command(BaseCommand):
    help = (
        "Vérifie la conformité CI-SIS de documents CDA : schéma XSD puis schématrons de l'ANS "
        "(kit TestContenuCDA : profils génériques et schématron du volet)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FICHIER", help="document CDA (XML)")
        parser.add_argument(
            "--cisis",
            type=Path,
            metavar="DOSSIER",
            help="dossier du kit ANS TestContenuCDA-3-0 (par défaut : celui des références du projet)",
        )
        parser.add_argument("--sans-avertissements", action="store_true", help="n'affiche que les erreurs")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        try:
            validator = CdaValidator(options["cisis"])
        except CdaKitError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        failed = 0
        for path in options["files"]:
            try:
                report = validator.validate_file(path)
            except CdaKitError as exc:
                raise CommandError(str(exc), returncode=2) from exc
            if not report.is_valid:
                failed += 1
            style = self.style.SUCCESS if report.is_valid else self.style.ERROR
            text = report.format(warnings=not options["sans_avertissements"])
            first, _, rest = text.partition("\n")
            self.stdout.write(style(f"{path} : {first}"))
            if rest:
                self.stdout.write(rest)
            if options["verbosity"] >= 2:
                for note in report.notes:
                    if note not in validator.kit_notes:
                        self.stdout.write(f"  note : {note}")
        count = len(options["files"])
        elapsed = time.perf_counter() - started
        if options["verbosity"] >= 1:
            # Said once, not per file: what this kit cannot check (e.g. LOINC and SNOMED CT codes).
            for note in validator.kit_notes:
                self.stdout.write(f"Note : {note}")
        if options["verbosity"] >= 2:
            self.stdout.write(f"{count} document(s) vérifié(s) en {elapsed:.1f} s.")
        if failed:
            raise CommandError(f"{failed} document(s) sur {count} non conforme(s).", returncode=1)
