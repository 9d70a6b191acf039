"""Demo data and the commands that need the database."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from caducee.accounts.models import Practice, User
from caducee.cabinet.demo import DEMO_PASSWORD, DEMO_PERSONAS
from caducee.core import dbcheck
from caducee.identity.models import Status
from caducee.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_seed_demo_loads_practice_users_personas_and_is_idempotent() -> None:
    out = StringIO()
    call_command("seed_demo", "--patients", "10", stdout=out)
    practice = Practice.objects.get()
    assert practice.kind == "msp" and practice.finess and practice.is_sandbox
    assert set(User.objects.values_list("role", flat=True)) == {"medecin", "paramedical", "secretaire", "admin"}
    assert User.objects.get(username="dr.martin").national_id == "889970012345"
    assert User.objects.get(username="sec.durand").check_password(DEMO_PASSWORD)
    assert Patient.objects.filter(identity__status=Status.PROV, identity__birth_name="ADRTROIS").count() == 2
    count = Patient.objects.count()
    assert count >= len(DEMO_PERSONAS) + 10  # + fictitious record-demo patients when too few synthetic adults
    assert "sec.durand" in out.getvalue() and DEMO_PASSWORD in out.getvalue()
    call_command("seed_demo", "--patients", "0", stdout=StringIO())
    assert Patient.objects.count() == count


def test_commands_needing_the_database_say_it_must_be_migrated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbcheck, "pending_migrations", lambda: 3)
    with pytest.raises(CommandError, match="caducee migrate"):
        dbcheck.ensure_migrated(auto=False)
