"""`caducee annuaire import|search|fhir`: the MSSanté directory from the command line (issue 5 §5).

* `import FICHIER [--json] [--sans-purge]`: load an Extraction_Correspondance_MSSante file (the public daily file of
  the Annuaire Santé) into the offline directory; prints the counts (lines, imported, duplicates, bad lines with
  the first reasons, removed). Addresses absent from the file are removed unless `--sans-purge`.
* `search TEXTE [--ville V] [--specialite S] [--limite N] [--json]`: the offline search of the address book
  (three letters of the name plus a city or a specialty).
* `fhir [--nom NOM] [--bal ADRESSE] [--exact] [--enregistrer] [--json]`: ask the Annuaire Santé FHIR API v2 (or
  its sandbox); `--enregistrer` keeps the answers in the offline directory.

A synthetic extraction to import (fictitious people, for the demo and the benchmarks) is the sandbox's:
`caducee sandbox annuaire-extraction FICHIER --rows N`.

Errors are plain French on stderr with a non-zero exit code.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.core.dbcheck import ensure_migrated
from caducee.mss.annuaire.extraction import ExtractionError, import_extraction
from caducee.mss.annuaire.fhir import AnnuaireUnavailable, fhir_search, store_records
from caducee.mss.annuaire.records import DirectoryRecord
from caducee.mss.annuaire.search import directory_search
from caducee.mss.models import DirectoryEntry

_FIELDS = (
    "address",
    "kind",
    "national_id",
    "civility",
    "family_name",
    "given_name",
    "profession",
    "specialty",
    "organisation",
    "service",
    "address_line",
    "postal_code",
    "city",
)


def entry_json(entry: DirectoryEntry | DirectoryRecord) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _FIELDS}


def entry_line(entry: DirectoryEntry | DirectoryRecord) -> str:
    name = " ".join(p for p in (entry.civility, entry.family_name, entry.given_name) if p) or entry.organisation
    what = entry.specialty or entry.profession or entry.service
    where = " ".join(p for p in (entry.postal_code, entry.city) if p)
    return " — ".join(p for p in (name, what, where, entry.address) if p)


class Command(BaseCommand):
    help = "Annuaire MSSanté : import de l'extraction publique, recherche, API FHIR."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{import,search,fhir}")
        imp = sub.add_parser("import", help="importe un fichier Extraction_Correspondance_MSSante")
        imp.add_argument("file", metavar="FICHIER")
        imp.add_argument("--json", action="store_true", help="sortie JSON")
        imp.add_argument(
            "--sans-purge", dest="no_prune", action="store_true", help="garder les adresses absentes du fichier"
        )
        search = sub.add_parser("search", help="recherche dans l'annuaire local")
        search.add_argument("text", metavar="TEXTE", help="début du nom (trois lettres suffisent)")
        search.add_argument("--ville", default="", help="ville ou code postal")
        search.add_argument("--specialite", default="", help="spécialité ou profession")
        search.add_argument("--limite", type=int, default=20)
        search.add_argument("--json", action="store_true", help="sortie JSON")
        fhir = sub.add_parser("fhir", help="interroge l'API FHIR de l'Annuaire Santé")
        fhir.add_argument("--nom", default="", help="nom d'un professionnel ou d'une structure")
        fhir.add_argument("--bal", default="", help="adresse MSSanté (ou partie, sauf --exact)")
        fhir.add_argument("--exact", action="store_true", help="adresse exacte")
        fhir.add_argument("--enregistrer", action="store_true", help="garder les réponses dans l'annuaire local")
        fhir.add_argument("--json", action="store_true", help="sortie JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_migrated(auto=False)
        getattr(self, f"_{options['action']}")(options)

    def _import(self, options: dict[str, Any]) -> None:
        try:
            report = import_extraction(options["file"], prune=not options["no_prune"])
        except FileNotFoundError as exc:
            raise CommandError(f"Fichier introuvable : {options['file']}.") from exc
        except ExtractionError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            f"{report.imported} adresses importées ({report.lines} lignes, {report.duplicates} doublons, "
            f"{report.bad_lines} lignes invalides, {report.removed} adresses retirées) en {report.seconds:.1f} s."
        )
        if not options["no_prune"] and not report.pruned:
            self.stdout.write(
                "Fichier abîmé ou incomplet (trop de lignes invalides, ou bien moins d'adresses que le précédent) : "
                "les adresses absentes du fichier ont été gardées."
            )
        for number, reason in report.errors:
            self.stdout.write(f"  ligne {number} : {reason}")

    def _search(self, options: dict[str, Any]) -> None:
        entries = directory_search(
            options["text"], city=options["ville"], specialty=options["specialite"], limit=options["limite"]
        )
        if options["json"]:
            self.stdout.write(json.dumps([entry_json(e) for e in entries], ensure_ascii=False, indent=2))
            return
        if not entries:
            self.stdout.write("Aucune adresse trouvée (trois lettres du nom, plus une ville ou une spécialité).")
        for entry in entries:
            self.stdout.write(entry_line(entry))

    def _fhir(self, options: dict[str, Any]) -> None:
        if not options["nom"].strip() and not options["bal"].strip():
            raise CommandError("Indiquez --nom ou --bal.")
        try:
            records = fhir_search(options["nom"], mailbox=options["bal"], exact=options["exact"])
        except (AnnuaireUnavailable, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        if options["enregistrer"]:
            store_records(records)
        if options["json"]:
            self.stdout.write(json.dumps([entry_json(r) for r in records], ensure_ascii=False, indent=2))
            return
        if not records:
            self.stdout.write("Aucune boîte aux lettres MSSanté trouvée.")
        for record in records:
            self.stdout.write(entry_line(record))
