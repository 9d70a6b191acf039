"""`caducee totp-disable USERNAME`: switches off a user's TOTP from the server (SC.SSI/IE.35), audited.

For an administrator who lost their phone when no other administrator can do it from « Sécurité du compte ».
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caducee.accounts.models import User
from caducee.accounts.totp import totp_disable


class Command(BaseCommand):
    help = "Désactive la double authentification (TOTP) d'un utilisateur (téléphone perdu ou volé), tracé."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"Utilisateur inconnu : {options['username']}")
        if not user.totp_enabled_at and not user.totp_secret:
            self.stdout.write("La double authentification n'était pas activée.")
            return
        totp_disable(actor=None, user=user)
        self.stdout.write(f"Double authentification désactivée pour {user.username} : à réactiver à la connexion.")
