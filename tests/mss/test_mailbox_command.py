"""`caducee mss boite`: the practice declares its MSSanté mailboxes (PER for a professional, ORG for the practice);
wrong input refused with a French message, nothing written; audited."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from caducee.core.models import AuditEvent
from caducee.mss.models import Mailbox

pytestmark = pytest.mark.django_db


def test_declare_a_personal_and_an_organisational_mailbox(doctor: Any) -> None:
    out = StringIO()
    call_command("mss", "boite", "Claire.Martin@Test.MSSante.fr", "--utilisateur", doctor.username, stdout=out)
    box = Mailbox.objects.get()
    assert box.address == "claire.martin@test.mssante.fr" and box.owner == doctor and box.kind == "PER"
    assert "active" in out.getvalue()
    call_command("mss", "boite", "secretariat@test.mssante.fr", "--type", "ORG", "--nom", "Secrétariat", stdout=out)
    assert Mailbox.objects.get(kind="ORG").owner is None
    call_command("mss", "boite", "secretariat@test.mssante.fr", "--type", "ORG", "--desactiver", stdout=out)
    assert not Mailbox.objects.get(kind="ORG").is_active
    assert AuditEvent.objects.filter(action="mss.mailbox.declare").count() == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["pas-une-adresse"], "adresse"),
        (["279035121518989@patient.mssante.fr", "--type", "ORG"], "patient"),
        (["x@test.mssante.fr"], "PER"),  # a personal box needs its professional
        (["x@test.mssante.fr", "--utilisateur", "inconnu"], "Utilisateur inconnu"),
    ],
)
def test_wrong_input_is_refused_and_nothing_written(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("mss", "boite", *args, stdout=StringIO())
    assert not Mailbox.objects.exists()
