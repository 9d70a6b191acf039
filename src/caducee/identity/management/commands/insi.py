"""`caducee insi search|vitale …`: query INSi from the command line, traced like any call (R37, R39).

The endpoint is the settings' (CADUCEE_INSI_*), like every INSi call. On the sandbox (CADUCEE_SANDBOX=1) with no INSi
answering — a fresh data dir, no `caducee sandbox` running — the command starts one for the duration of the call in
a child process (`caducee sandbox --only insi`), takes the settings it publishes, and stops it (said on stderr).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from caducee.core.endpoints import SANDBOX_SETTINGS_FILE, endpoint_settings_applied, read_settings_file
from caducee.identity.insi.client import InsiClient, InsiError, InsiTraits, VitaleQuery
from caducee.identity.insi.endpoint import insi_endpoint
from caducee.identity.matricule import nature
from caducee.identity.models import InsiCall

SANDBOX_START_SECONDS = 60
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
            if settings.SANDBOX:  # a CLI convenience on the sandbox; the endpoint is the settings' either way
                self._ensure_sandbox(stack)
            outcome = self._call(traits, vitale)
        self._print(outcome, as_json=options["json"])

    # -- sandbox ------------------------------------------------------------------------------

    def _ensure_sandbox(self, stack: ExitStack) -> None:
        try:
            if _answers(insi_endpoint().url):
                return
        except ImproperlyConfigured:
            pass
        # A sandbox started after this process read its settings has published its own.
        published = _published()
        if not _answers(published.get("CADUCEE_INSI_URL", "")):
            published = self._start_sandbox(stack)
            self.stderr.write(
                f"Bac à sable INSi démarré pour la durée de la commande ({published['CADUCEE_INSI_URL']})."
            )
        stack.enter_context(endpoint_settings_applied(published))

    def _start_sandbox(self, stack: ExitStack) -> dict[str, str]:
        """`caducee sandbox --only insi` in a child process; the settings it publishes once its INSi answers."""
        env = {**os.environ, "CADUCEE_DATA_DIR": str(settings.DATA_DIR)}
        if settings.REFERENCE_DIR:
            env["CADUCEE_REFERENCE_DIR"] = str(settings.REFERENCE_DIR)
        log = stack.enter_context(tempfile.TemporaryFile())
        process = subprocess.Popen(
            [sys.executable, "-m", "caducee.cli", "sandbox", "--only", "insi"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        stack.callback(_stop, process)
        deadline = time.monotonic() + SANDBOX_START_SECONDS
        while True:
            published = _published()
            if _answers(published.get("CADUCEE_INSI_URL", "")):
                return published
            if process.poll() is not None:
                raise CommandError(f"Le bac à sable INSi n'a pas démarré : {_tail(log)}")
            if time.monotonic() > deadline:
                raise CommandError(f"Le bac à sable INSi ne répond pas après {SANDBOX_START_SECONDS} s.")
            time.sleep(0.05)

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


def _published() -> dict[str, str]:
    """The settings a sandbox published in this data dir ({} when none, or a file being replaced)."""
    try:
        return read_settings_file(Path(settings.DATA_DIR) / SANDBOX_SETTINGS_FILE)
    except ImproperlyConfigured:
        return {}


def _answers(url: str) -> bool:
    """Does something listen at this address? (A sandbox killed without its stop leaves its settings behind.)"""
    if not url:
        return False
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 443), timeout=1):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # SIGTERM: the sandbox stops and removes its settings file
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    lines = log.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "le processus s'est arrêté sans message."
