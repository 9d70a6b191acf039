"""`caducee accounts-disable-dormant`: disables the administrator accounts unused for CADUCEE_ADMIN_DORMANT_DAYS.

SC.SSI/IAM.93. Meant for a daily timer (systemd or cron); a dormant account is also disabled at its next login
attempt, so the rule holds even without the timer.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from caducee.accounts.services import accounts_disable_dormant


class Command(BaseCommand):
    help = "Désactive les comptes administrateurs inutilisés depuis CADUCEE_ADMIN_DORMANT_DAYS jours (SC.SSI/IAM.93)."

    def handle(self, *args: Any, **options: Any) -> None:
        names = accounts_disable_dormant()
        days = settings.ADMIN_DORMANT_DAYS
        if names:
            self.stdout.write(
                f"{len(names)} compte(s) désactivé(s) après {days} jours sans connexion : {', '.join(names)}"
            )
        else:
            self.stdout.write(f"Aucun compte administrateur inutilisé depuis {days} jours.")
