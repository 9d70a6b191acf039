"""Fixtures of the MSSanté client tests: a doctor's personal mailbox, a QUAL patient, a stored N1 letter."""

from __future__ import annotations

from typing import Any

import pytest

from caducee.mss.models import Mailbox, MailboxKind
from caducee.mss.tokens import forget_tokens

DOCTOR_BOX = "claire.martin@test.mssante.fr"
COLLEAGUE_BOX = "hugo.bernard@test.mssante.fr"


@pytest.fixture(autouse=True)
def _no_cached_tokens() -> Any:
    forget_tokens()
    yield
    forget_tokens()


@pytest.fixture
def doctor_mailbox(doctor: Any) -> Mailbox:
    doctor.first_name, doctor.last_name = "Claire", "Martin"
    doctor.save(update_fields=["first_name", "last_name"])
    return Mailbox.objects.create(address=DOCTOR_BOX, kind=MailboxKind.PER, owner=doctor, display_name="MARTIN Claire")


@pytest.fixture
def qual_patient(make_patient: Any, settings: Any) -> Any:
    """A patient with a QUAL identity carrying the test INS (settings.SANDBOX: test data allowed, R28)."""
    from tests.documents.cda_records import qualify

    settings.SANDBOX = True
    return qualify(make_patient())


@pytest.fixture
def letter(practice: Any, doctor: Any, qual_patient: Any) -> Any:
    from tests.dmp.fake_dmp import store_n1

    return store_n1(practice=practice, author=doctor, patient=qual_patient)


from tests.sandbox.mss_fixtures import mss_operator, mss_pki, mss_sandbox  # noqa: E402, F401
