"""`caducee ins check MATRICULE`: check a matricule INS (length, structure, key)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.identity.matricule import MatriculeError, parse_matricule


class Command(BaseCommand):
    help = "Outils INS : `check` vérifie un matricule INS (15 caractères, clé de contrôle)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="vérifie un matricule INS")
        check.add_argument("matricule")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            matricule = parse_matricule(options["matricule"])
        except MatriculeError as exc:
            raise CommandError(f"Matricule invalide : {exc}") from exc
        month = " (mois de naissance inconnu)" if matricule.unknown_birth_month else ""
        self.stdout.write(
            f"{matricule.formatted()} : NIR valide, clé {matricule.key}{month}. "
            "La nature NIR/NIA d'un INS est donnée par l'OID que retourne INSi."
        )
