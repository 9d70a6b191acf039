"""`caducee serve`: production mode, gunicorn with static files served by WhiteNoise."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from caducee.core.dbcheck import ensure_migrated
from caducee.core.webserver import run_gunicorn


class Command(BaseCommand):
    help = "Lance le serveur web de production (gunicorn)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--migrate", action="store_true", help="applique les migrations avant de démarrer")

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_migrated(auto=options["migrate"])
        run_gunicorn(bind=options["bind"], workers=options["workers"])
