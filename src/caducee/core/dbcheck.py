from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def pending_migrations() -> int:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def ensure_migrated(*, auto: bool) -> None:
    """Commands that need the database migrate it (auto) or say clearly that it must be."""
    if not pending_migrations():
        return
    if not auto:
        raise CommandError("La base de données n'est pas à jour : lancez d'abord `caducee migrate`.")
    call_command("migrate", interactive=False, verbosity=0)
