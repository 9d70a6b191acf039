"""Demo MSSanté data: each demo doctor has a personal mailbox, the practice an organisational one; dr.bernard is the
médecin traitant of a few qualified patients so that dr.martin sees him proposed; idempotent."""

from __future__ import annotations

import pytest

from caducee.accounts.models import User
from caducee.cabinet.demo import seed_demo
from caducee.mss.demo import DEMO_MAILBOXES, PRACTICE_MAILBOX, seed_mss_demo
from caducee.mss.models import Mailbox
from caducee.mss.selectors import proposed_recipients
from caducee.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_demo_mailboxes_and_colleague_recipients(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX = True
    seed_demo(synthetic_patients=30)  # calls seed_mss_demo
    boxes = {m.address: m for m in Mailbox.objects.select_related("owner")}
    for username, address in DEMO_MAILBOXES.items():
        assert boxes[address].owner.username == username and boxes[address].kind == "PER"
    assert boxes[PRACTICE_MAILBOX].owner is None and boxes[PRACTICE_MAILBOX].kind == "ORG"
    bernard, martin = User.objects.get(username="dr.bernard"), User.objects.get(username="dr.martin")
    followed = list(Patient.objects.filter(medecin_traitant=bernard))
    assert followed and all(p.identity.status == "QUAL" for p in followed)
    offered = [r.address for r in proposed_recipients(followed[0], martin)]
    assert DEMO_MAILBOXES["dr.bernard"] in offered
    assert seed_mss_demo() == len(boxes)  # idempotent
    assert Patient.objects.filter(medecin_traitant=bernard).count() == len(followed)
