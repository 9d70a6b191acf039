"""Issue 13 §2: an allergy to a substance or a class (amoxicilline, pénicillines, iode, latex) is offered with
its ATC code when « Substance » is chosen — before the fix only brand products (CIS) were suggested whatever
the kind — and the code is checked against the ATC."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from caducee.record import services
from caducee.record.allergens import ATC_CODE, allergens
from caducee.record.models import Allergy, Concept
from caducee.record.terminology import OID_ATC, label_key

pytestmark = pytest.mark.django_db

DEMO_TABLE = Path(services.__file__).parent / "data" / "terminology_demo.tsv.gz"


@pytest.fixture
def atc(concepts) -> None:  # type: ignore[no-untyped-def]
    Concept.objects.bulk_create(
        [
            Concept(system=OID_ATC, code=c, label=lb, label_key=label_key(lb))
            for c, lb in [("J01C", ""), ("J01CA04", "amoxicilline"), ("V08A", ""), ("D08AG02", ""), ("J01CE02", "")]
        ]
    )


def test_every_code_of_the_list_is_in_the_atc() -> None:
    with gzip.open(DEMO_TABLE, "rt", encoding="utf-8") as table:
        atc_codes = {line.split("\t")[1] for line in table if line.startswith(OID_ATC + "\t")}
    for allergen in allergens():
        if allergen.code:
            assert ATC_CODE.match(allergen.code) and allergen.code in atc_codes, allergen


def search(client: Client, text: str, kind: str) -> list[dict[str, str]]:
    response = client.get("/dossier/terminologie/", {"systeme": "allergene", "type": kind, "q": text})
    assert response.status_code == 200
    return response.json()["results"]


def test_substance_search_offers_substances_and_classes(client: Client, doctor, atc) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    assert search(client, "pénicilline", "substance")[0] == {"code": "J01C", "label": "pénicillines (bêta-lactamines)"}
    amox = search(client, "amox", "substance")
    assert amox[0] == {"code": "J01CA04", "label": "amoxicilline"}
    assert not any(r["code"] == "69118175" for r in amox)  # no brand product for a substance
    assert {"V08A", "D08AG02"} <= {r["code"] for r in search(client, "iode", "substance")}
    assert search(client, "latex", "other") == [{"code": "", "label": "latex"}]
    # A drug allergy still searches the products (CIS).
    assert search(client, "amox", "drug")[0]["code"] == "69118175"


def test_substance_code_is_stored_and_checked(doctor, patient, atc) -> None:  # type: ignore[no-untyped-def]
    allergy = services.allergy_create(
        actor=doctor, patient=patient, agent_kind="substance", agent_label="", agent_code="j01c"
    )
    assert allergy.agent_code == "J01C"
    allergy = services.allergy_create(
        actor=doctor, patient=patient, agent_kind="substance", agent_label="", agent_code="J01CA04"
    )
    assert allergy.agent_label == "amoxicilline"
    with pytest.raises(ValidationError, match="inconnu"):
        services.allergy_create(
            actor=doctor, patient=patient, agent_kind="substance", agent_label="X", agent_code="ZZ9"
        )
    assert Allergy.objects.count() == 2


def test_allergy_form_searches_by_kind(client: Client, doctor, patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(doctor)
    page = client.get(f"/dossier/{patient.pk}/").content.decode()
    assert 'data-terminology="allergene"' in page and 'data-kind-field="agent_kind"' in page
