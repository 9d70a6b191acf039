"""`caducee import-cog [--demo | FILES…]`: load the birthplaces searched by name in the identity forms (issue 13 §1).

FILES are INSEE's public CSV files of the Code officiel géographique (https://www.insee.fr/fr/information/2560452):
v_commune_AAAA.csv (current communes, arrondissements, communes déléguées and associées), v_commune_depuis_1943.csv
(former communes) and v_pays_AAAA.csv (countries, 99xxx). --demo loads the table derived from the npm package
@etalab/decoupage-administratif (docs/cog.md). Idempotent: run it again with next year's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.identity.cog import BirthplaceError, Row, import_demo_places, places_import, rows_from_insee


class Command(BaseCommand):
    help = "Charge les lieux de naissance (COG de l'INSEE) : fichiers CSV de l'INSEE, ou --demo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", help="v_commune_AAAA.csv, v_commune_depuis_1943.csv, v_pays_AAAA.csv")
        parser.add_argument("--demo", action="store_true", help="la table de démonstration livrée avec Caducée")

    def handle(self, *args: Any, **options: Any) -> None:
        files: list[str] = options["files"]
        if options["demo"] == bool(files):
            raise CommandError("Donnez soit --demo, soit les fichiers CSV du COG de l'INSEE.")
        if options["demo"]:
            result = import_demo_places()
        else:
            rows: list[Row] = []
            for name in files:
                path = Path(name)
                try:
                    text = path.read_bytes().decode("utf-8-sig")
                except (OSError, UnicodeDecodeError) as exc:
                    raise CommandError(f"{name} : illisible ({exc})") from exc
                try:
                    rows.extend(rows_from_insee(path.name, text))
                except (BirthplaceError, KeyError, ValueError) as exc:
                    raise CommandError(f"{name} : {exc}") from exc
            result = places_import(rows=rows)
        self.stdout.write(
            f"Lieux de naissance : {result['created']} ajoutés, {result['updated']} mis à jour, "
            f"{result['total']} en tout."
        )
