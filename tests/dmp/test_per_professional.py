"""Issue 13 §3: DMP access is per professional. The nurse used to see the doctor's « autorisation valide » and
cached list before any authorisation of her own, then got a false « n'est plus dans le DMP » (a document masked to
professionals, visible to its author only) or a 502. The DMP answers each professional in their own context
(SC.DMP/CONF.01 TD0.2, TD0.3 asked for the nurse herself); no one sees a colleague's answer as their own."""

from __future__ import annotations

import pytest
from django.test import Client

from caducee.accounts.models import Role, User
from caducee.dmp.models import DmpAccess, DmpConsent, DmpEntry
from caducee.dmp.selectors import dmp_panel
from caducee.dmp.services import DmpServiceError, dmp_open, dmp_refresh
from tests.dmp.fake_dmp import DOCTOR_NATIONAL_ID, INS_CX, MATCHING_IDENTITY, FakeDmp, fake_dmp  # noqa: F401
from tests.documents.cda_records import qualify

pytestmark = pytest.mark.django_db

NURSE_ADELI = "699999004"


@pytest.fixture
def patient(make_patient, settings):  # type: ignore[no-untyped-def]
    settings.SANDBOX = True
    return qualify(make_patient())


@pytest.fixture
def dmp(fake_dmp: FakeDmp) -> FakeDmp:  # noqa: F811
    fake_dmp.add_patient(INS_CX, identity=MATCHING_IDENTITY)
    return fake_dmp


@pytest.fixture
def nurse(db: None) -> User:
    return User.objects.create_user(
        username="infirmiere", role=Role.PARAMEDICAL, last_name="SOIN", adeli=NURSE_ADELI, profession_code="60"
    )


def _doctor_listed(doctor, patient, dmp: FakeDmp):  # type: ignore[no-untyped-def]
    DmpConsent.objects.create(patient=patient, consult_consent=True)
    dmp.seed_document(INS_CX, unique_id="1.2.250.1.1^1", title="CR ouvert à tous")
    dmp.seed_document(
        INS_CX,
        unique_id="1.2.250.1.1^2",
        title="CR masqué",
        author=f"{DOCTOR_NATIONAL_ID}^MEDECIN^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
        confidentiality=("N", "MASQUE_PS"),
    )
    return dmp_refresh(actor=doctor, patient=patient)


def test_the_nurse_sees_neither_the_doctors_authorization_nor_his_list(
    client: Client, doctor, nurse, practice, patient, dmp: FakeDmp
) -> None:  # type: ignore[no-untyped-def]
    assert len(_doctor_listed(doctor, patient, dmp)) == 2
    panel = dmp_panel(patient, professional=nurse)
    assert panel.access is None and panel.entries == [] and panel.new_count == 0
    client.force_login(nurse)
    page = client.get(f"/dmp/patient/{patient.pk}/").content.decode()
    assert "CR masqué" not in page and "CR ouvert à tous" not in page
    # Her own query: TD0.2 then TD0.3 in HER context, her own list (the masked document is not given to her).
    methods_before = len(dmp.methods())
    entries = dmp_refresh(actor=nurse, patient=patient)
    assert dmp.methods()[methods_before:] == ["test_existence", "set_authorization", "find_documents"]
    assert [e.title for e in entries] == ["CR ouvert à tous"]
    assert dmp.patients[INS_CX].authorizations["0" + NURSE_ADELI][0] == "VALIDE"
    assert DmpAccess.objects.filter(patient=patient).count() == 2  # one answer per professional
    assert {e.title for e in dmp_panel(patient, professional=doctor).entries} == {"CR ouvert à tous", "CR masqué"}


def test_a_colleagues_entry_is_not_called_gone(doctor, nurse, practice, patient, dmp: FakeDmp) -> None:  # type: ignore[no-untyped-def]
    """Opening the doctor's cached row of a document masked to professionals: not « n'est plus dans le DMP »."""
    masked = next(e for e in _doctor_listed(doctor, patient, dmp) if e.title == "CR masqué")
    with pytest.raises(DmpServiceError) as refused:
        dmp_open(actor=nurse, entry=masked)
    assert "n'est plus dans le DMP" not in str(refused.value)
    assert "pas accessible avec votre profil" in str(refused.value)
    assert not DmpEntry.objects.get(pk=masked.pk).seen  # the doctor's « nouveau » stays his
