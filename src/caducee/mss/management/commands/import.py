"""`caducee import PATH… [--json]`: integrate files received by other routes (an `.eml`, an `IHE_XDM.zip`, a CDA
`.xml`) through exactly the same code as the MSSanté inbox (`mss.intake.ingest_bytes`, issue 5 §4).

Per file: integrated (and into which patient), work list, quarantined (and why), or duplicate. `--json` prints one
JSON object per line and per file: {"file", "outcome", "patient": {"id", "name"} when filed, "reason"}; a file
holding several documents adds "documents" (one object each). A directory is taken file by file (sorted, not
recursive).

Exit code 0 even when files are quarantined (a quarantine is an outcome, kept and explained, not a failure of the
command). A path that does not exist or cannot be read is reported as "missing" with the reason, nothing is
stored for it, and the exit code is then 1 (the command line was wrong, not the file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.core.dbcheck import ensure_migrated
from caducee.mss.intake import IntakeOutcome, ingest_file

_LABELS = {
    "integrated": "intégré",
    "worklist": "liste de travail",
    "quarantined": "quarantaine",
    "duplicate": "déjà reçu",
    "missing": "introuvable",
}


def _files(paths: list[str]) -> list[tuple[str, Path | None, str]]:
    """(as given, path or None, problem) for each input; a directory contributes its files."""
    found: list[tuple[str, Path | None, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            children = sorted(p for p in path.iterdir() if p.is_file())
            found.extend((str(child), child, "") for child in children)
        elif path.is_file():
            found.append((given, path, ""))
        else:
            found.append((given, None, "fichier introuvable."))
    return found


def _human(result: IntakeOutcome) -> str:
    line = f"{result.file} : {_LABELS.get(result.outcome, result.outcome)}"
    if result.patient:
        line += f" — patient {result.patient['name']} (n° {result.patient['id']})"
    if result.reason:
        line += f" — {result.reason}"
    return line


class Command(BaseCommand):
    help = "Intègre des fichiers reçus par d'autres voies (.eml, IHE_XDM.zip, CDA .xml) comme la messagerie."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="fichiers (ou répertoires) à intégrer")
        parser.add_argument("--json", action="store_true", help="un objet JSON par fichier")

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_migrated(auto=False)
        missing = False
        for given, path, problem in _files(options["paths"]):
            if path is None:
                missing = True
                result = IntakeOutcome(given, "missing", problem)
            else:
                try:
                    result = ingest_file(path)
                except OSError as exc:  # unreadable (permissions…): nothing stored
                    missing = True
                    result = IntakeOutcome(given, "missing", f"fichier illisible : {exc.strerror or exc}.")
            if options["json"]:
                self.stdout.write(json.dumps(result.as_json(), ensure_ascii=False))
            else:
                self.stdout.write(_human(result))
        if missing:
            raise CommandError("au moins un fichier est introuvable ou illisible.", returncode=1)
