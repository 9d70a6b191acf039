from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from caducee.accounts.models import Role
from caducee.cabinet.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo
from caducee.core.dbcheck import ensure_migrated


class Command(BaseCommand):
    help = "Charge les données de démonstration dans la base configurée (sans rien démarrer)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--patients", type=int, default=40, help="patients synthétiques en plus des personas INSi")

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_migrated(auto=True)
        result = seed_demo(synthetic_patients=options["patients"])
        self.stdout.write(f"Structure : {result['practice']}")
        self.stdout.write(f"Patients : {result['personas']} personas INSi + {result['synthetic']} synthétiques")
        self.stdout.write(f"Dossiers médicaux de démonstration : {result['records']}")
        print_logins(self.stdout)


def print_logins(out: Any) -> None:
    out.write(f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD}) :")
    for u in DEMO_USERS:
        out.write(f"  {u.username:<12} {u.first_name} {u.last_name} — {Role(u.role).label}")
    out.write(
        "Pro Santé Connect (bac à sable) : « Se connecter avec Pro Santé Connect », identifiant national "
        "889970012345 (Claire MARTIN, deux situations d'exercice) ou 889970023456 (Hugo BERNARD) ; la page e-CPS "
        "simulée a un certificat de l'autorité du bac à sable (DATA_DIR/sandbox/pki/ca.pem) : acceptez-le."
    )
