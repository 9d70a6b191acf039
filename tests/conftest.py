from __future__ import annotations

import pytest

from caducee.accounts.models import Practice, Role, User
from caducee.identity.models import DEFAULT_ID_DOCUMENTS
from caducee.identity.traits import clean_traits
from caducee.patients.services import patient_create
from tests.documents.conftest import cda_validator  # noqa: F401
from tests.sandbox.fixtures import insi_sandbox, insi_sandbox_session  # noqa: F401

PASSWORD = "Un-mot-de-passe-long-2026"


@pytest.fixture
def practice(db: None) -> Practice:
    return Practice.objects.create(
        pk=1,
        name="MSP de test",
        kind=Practice.Kind.MSP,
        finess="690099991",
        accepted_id_documents=DEFAULT_ID_DOCUMENTS,
    )


def _user(username: str, role: str, **extra: object) -> User:
    return User.objects.create_user(
        username=username, password=PASSWORD, role=role, last_name=username.upper(), **extra
    )


@pytest.fixture
def doctor(db: None) -> User:
    return _user("medecin", Role.MEDECIN, rpps="89970012345", profession_code="10")


@pytest.fixture
def secretary(db: None) -> User:
    return _user("secretaire", Role.SECRETAIRE)


@pytest.fixture
def identity_superuser(db: None) -> User:
    return _user("superid", Role.SECRETAIRE, is_identity_superuser=True)


@pytest.fixture
def administrator(db: None) -> User:
    return _user("administrateur", Role.ADMINISTRATEUR)


@pytest.fixture
def make_patient(practice: Practice, secretary: User):  # type: ignore[no-untyped-def]
    def make(**raw: str):  # type: ignore[no-untyped-def]
        data = {
            "birth_name": "ADRTROIS",
            "first_given_name": "DOMINIQUE",
            "birth_date": "26/02/1997",
            "sex": "F",
            "birthplace_cog": "2A020",
        }
        data.update(raw)
        return patient_create(actor=secretary, traits=clean_traits(data))

    return make


# National identifiers of the users made by `user_of_role` (issue 6 §2 role matrix): the authors of CDA documents
# need one (RPPS for the doctors and the interne, ADELI for the paramédical).
_ROLE_IDS: dict[str, dict[str, str]] = {
    Role.MEDECIN: {"rpps": "89970099001", "profession_code": "10"},
    Role.REMPLACANT: {"rpps": "89970099002", "profession_code": "10"},
    Role.INTERNE: {"rpps": "89970099003", "profession_code": "10"},
    Role.PARAMEDICAL: {"adeli": "699999004", "profession_code": "60"},
}


@pytest.fixture(params=list(Role), ids=[role.value for role in Role])
def user_of_role(request: pytest.FixtureRequest, db: None) -> User:
    """A user of each of the seven roles in turn (the test runs once per role)."""
    role = request.param
    return _user(f"u-{role}", role, first_name=role.label, **_ROLE_IDS.get(role, {}))
