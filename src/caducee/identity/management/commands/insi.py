"""`caducee insi search|vitale …`: query INSi from the command line, traced like any call (R37, R39).

With CADUCEE_SANDBOX=1 and no sandbox answering, the INSi sandbox is started inside this process
for the duration of the call (said on stderr).
"""

from __future__ import annotations

import json
import socket
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from caducee.identity.insi.client import InsiClient, InsiError, InsiTraits, VitaleQuery
from caducee.identity.insi.endpoint import SandboxNotRunning, insi_endpoint, sandbox_endpoint
from caducee.identity.matricule import nature
from caducee.identity.models import InsiCall

RESULT_CODES = ("00", "01", "02")


class Command(BaseCommand):
    help = "Interroge le téléservice INSi (ou son bac à sable) par traits d'identité ou carte Vitale."

    def add_arguments(self, parser: CommandParser) -> None:
        operations = parser.add_subparsers(dest="operation", required=True)
        search = operations.add_parser("search", help="Recherche par traits d'identité.")
        search.add_argument("--nom", required=True, help="Nom de naissance.")
        search.add_argument(
            "--prenoms", required=True, nargs="+", help="Prénom(s) de naissance, séparés par des espaces."
        )
        search.add_argument("--sexe", required=True, choices=["M", "F"], help="Sexe (M ou F).")
        search.add_argument("--naissance", required=True, help="Date de naissance AAAA-MM-JJ.")
        search.add_argument("--lieu", default=None, help="Code COG du lieu de naissance (facultatif).")
        search.add_argument("--json", action="store_true", help="Sortie JSON.")
        vitale = operations.add_parser("vitale", help="Recherche avec les données de la carte Vitale.")
        vitale.add_argument("--nir-od", required=True, help="NIR de l'ouvrant droit (15 caractères).")
        vitale.add_argument("--nir", default=None, help="NIR individuel du bénéficiaire, s'il figure sur la carte.")
        vitale.add_argument("--nom", required=True, help="Nom de naissance.")
        vitale.add_argument("--naissance", required=True, help="Date de naissance AAAA-MM-JJ.")
        vitale.add_argument("--rang", default="1", help="Rang de naissance (1 par défaut).")
        vitale.add_argument("--json", action="store_true", help="Sortie JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        traits: InsiTraits | None = None
        vitale: VitaleQuery | None = None
        if options["operation"] == "search":
            traits = InsiTraits(
                birth_name=options["nom"],
                given_names=list(options["prenoms"]),
                sex=options["sexe"],
                birth_date=options["naissance"],
                birthplace_cog=options["lieu"],
            )
        else:
            vitale = VitaleQuery(
                nir_individu=options["nir"],
                nir_od=options["nir_od"],
                birth_name=options["nom"],
                birth_date=options["naissance"],
                rang=options["rang"],
            )
        with ExitStack() as stack:
            if settings.SANDBOX:
                self._ensure_sandbox(stack)
            outcome = self._call(traits, vitale)
        self._print(outcome, as_json=options["json"])

    # -- sandbox ------------------------------------------------------------------------------

    def _ensure_sandbox(self, stack: ExitStack) -> None:
        data_dir = Path(settings.DATA_DIR)
        try:
            endpoint = sandbox_endpoint(data_dir)
            if _answers(endpoint.url):
                return
        except SandboxNotRunning:
            pass
        from caducee.sandbox.runner import start_sandboxes  # CLI convenience only

        handle = start_sandboxes(
            data_dir, reference_dir=Path(settings.REFERENCE_DIR) if settings.REFERENCE_DIR else None
        )
        stack.callback(handle.stop)
        self.stderr.write(
            f"Bac à sable INSi démarré dans ce processus pour la durée de la commande ({handle.insi.url})."
        )

    # -- call ---------------------------------------------------------------------------------

    def _call(self, traits: InsiTraits | None, vitale: VitaleQuery | None) -> dict[str, Any]:
        if InsiCall._meta.db_table in connection.introspection.table_names():
            from caducee.identity.services import insi_search

            call = insi_search(actor=None, traits=traits, vitale=vitale, identity=None)
            return {
                "code": call.outcome,
                "message": call.message,
                "attempts": call.attempts,
                "identity": call.result or None,
            }
        if not settings.SANDBOX:
            raise CommandError(
                "Base de données non initialisée : lancez `caducee migrate` (tout appel INSi est tracé, R37)."
            )
        self.stderr.write("Base de données non initialisée (`caducee migrate`) : appel au bac à sable non tracé.")
        client = InsiClient(insi_endpoint())
        try:
            result = client.search_vitale(vitale) if vitale else client.search_traits(traits)  # type: ignore[arg-type]
        except InsiError as exc:
            return {
                "code": type(exc).__name__,
                "message": str(exc),
                "attempts": exc.attempts,
                "identity": None,
            }
        return {
            "code": result.code,
            "message": result.label,
            "attempts": result.attempts,
            "identity": vars(result.identity) if result.identity else None,
        }

    # -- output -------------------------------------------------------------------------------

    def _print(self, outcome: dict[str, Any], *, as_json: bool) -> None:
        code = outcome["code"]
        if code not in RESULT_CODES:
            raise CommandError(f"Échec de l'appel INSi : {outcome['message']}")
        identity = outcome["identity"]
        if as_json:
            self.stdout.write(json.dumps(_as_json(outcome), ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"INSi : {code} {outcome['message']} ({outcome['attempts']} appel(s))")
        if identity:
            self.stdout.write(
                f"  INS {identity['matricule']} {identity['key']} ({nature(identity['oid'])}, OID {identity['oid']})"
            )
            self.stdout.write(
                f"  {identity['birth_name']} {identity['given_names']} — {identity['sex']} — "
                f"né(e) le {identity['birth_date']} — lieu {identity['birthplace_cog'] or '?'}"
            )
            for old in identity.get("history", []):
                self.stdout.write(f"  ancien matricule : {old['matricule']} {old['key'] or ''} (OID {old['oid']})")


def _as_json(outcome: dict[str, Any]) -> dict[str, Any]:
    identity = outcome["identity"] or {}
    return {
        "code": outcome["code"],
        "libelle": outcome["message"],
        "matricule": identity.get("matricule"),
        "cle": identity.get("key"),
        "oid": identity.get("oid"),
        "nature": nature(identity["oid"]) if identity else None,
        "historique": [
            {
                "matricule": old["matricule"],
                "cle": old["key"],
                "oid": old["oid"],
                "date_debut": old.get("start"),
                "date_fin": old.get("end"),
            }
            for old in identity.get("history", [])
        ],
        "traits": {
            "nom_naissance": identity["birth_name"],
            "prenoms": identity["given_names"],
            "premier_prenom": identity["first_given_name"],
            "sexe": identity["sex"],
            "date_naissance": identity["birth_date"],
            "lieu_naissance": identity["birthplace_cog"],
        }
        if identity
        else None,
        "tentatives": outcome["attempts"],
    }


def _answers(url: str) -> bool:
    """Does something listen at the sandbox's address? (A stale sandbox.json points nowhere.)"""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 443), timeout=1):
            return True
    except OSError:
        return False
