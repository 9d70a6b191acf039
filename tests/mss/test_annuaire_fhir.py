"""The Annuaire Santé FHIR API v2 client against the sandbox, over real HTTPS (issue 5 §5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from caducee.mss.annuaire.fhir import (
    AnnuaireClient,
    AnnuaireEndpoint,
    AnnuaireUnavailable,
    annuaire_endpoint,
    fhir_search,
    mailbox_metadata,
    records_from_resource,
    store_records,
)
from caducee.mss.annuaire.search import directory_search
from caducee.mss.models import DirectoryEntry
from caducee.sandbox.annuaire import AnnuaireSandbox, start_annuaire_sandbox
from caducee.sandbox.pki import SandboxPki, ensure_pki
from caducee.sandbox.runner import annuaire_settings
from tests.sandbox.fixtures import use_sandbox_settings

API_KEY = "cle-annuaire-de-test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return ensure_pki(tmp_path_factory.mktemp("annuaire-client-pki"))


@pytest.fixture(scope="module")
def sandbox(pki: SandboxPki) -> Iterator[AnnuaireSandbox]:
    handle = start_annuaire_sandbox(ca=pki.ca_cert, cert=pki.server_cert, key=pki.server_key, api_key=API_KEY)
    yield handle
    handle.stop()


@pytest.fixture
def endpoint(sandbox: AnnuaireSandbox, pki: SandboxPki) -> AnnuaireEndpoint:
    return AnnuaireEndpoint(url=sandbox.url, api_key=API_KEY, ca_bundle=pki.ca_cert, timeout=5)


@pytest.fixture
def client(endpoint: AnnuaireEndpoint) -> Iterator[AnnuaireClient]:
    with AnnuaireClient(endpoint) as c:
        yield c


def test_practitioner_by_exact_mailbox(client: AnnuaireClient, sandbox: AnnuaireSandbox) -> None:
    records = client.practitioners(mailbox="claire.martin@demo.mssante.fr", exact=True)
    assert len(records) == 1
    record = records[0]
    assert record.address == "claire.martin@demo.mssante.fr"
    assert record.kind == "PER"
    assert record.national_id == "889970012345"
    assert (record.civility, record.family_name, record.given_name) == ("DR", "MARTIN", "Claire")
    assert (record.profession_code, record.profession) == ("10", "Médecin")
    assert (record.specialty_code, record.specialty) == ("SM54", "Médecine Générale")
    # Placed by its situation d'exercice (PractitionerRole + Organization), a second call.
    assert (record.organisation, record.address_line, record.postal_code, record.city) == (
        "MAISON DE SANTE DES TILLEULS",
        "12 RUE DES TILLEULS",
        "69003",
        "LYON",
    )
    first, second = sandbox.requests[-2:]
    assert first.api_key_ok and first.path.endswith("/Practitioner")
    assert "mailbox-mss%3Aexact=claire.martin" in first.query
    assert second.path.endswith("/PractitionerRole") and "practitioner=Practitioner%2Fprac-000001" in second.query


def test_practitioner_role_is_named_and_placed_from_included_resources(client: AnnuaireClient) -> None:
    records = client.practitioner_roles(mailbox="anne.leroy@demo.mssante.fr", exact=True)
    assert len(records) == 1
    leroy = records[0]
    assert (leroy.family_name, leroy.specialty) == ("LEROY", "Cardiologie et maladies vasculaires")
    assert leroy.national_id == "899700456789"
    assert (leroy.organisation, leroy.city) == ("CABINET DE CARDIOLOGIE BELLECOUR", "LYON")


def test_paging_collects_every_page(client: AnnuaireClient, sandbox: AnnuaireSandbox) -> None:
    before = len(sandbox.requests)
    records = client.search("Practitioner", {"mailbox-mss:contains": "@medecin.mssante.fr", "_count": "20"})
    calls = len(sandbox.requests) - before
    total = sum(
        1 for p in sandbox.resources["Practitioner"] for t in p["telecom"] if "@medecin.mssante.fr" in t["value"]
    )
    assert calls > 2
    assert len(records) == total
    assert all(r.address.endswith("@medecin.mssante.fr") for r in records)


def test_max_pages_bounds_the_calls(endpoint: AnnuaireEndpoint, sandbox: AnnuaireSandbox) -> None:
    with AnnuaireClient(endpoint, max_pages=2) as limited:
        before = len(sandbox.requests)
        records = limited.search("Practitioner", {"mailbox-mss:contains": "@", "_count": "10"})
    assert len(sandbox.requests) - before == 2
    assert len(records) == 20


def test_liste_rouge_and_plain_emails_are_not_mailboxes(client: AnnuaireClient, sandbox: AnnuaireSandbox) -> None:
    assert client.practitioners(mailbox="liste.rouge@demo.mssante.fr", exact=True) == []
    # The sandbox does hold it (the server returns it; the client drops it).
    assert any(
        t["value"] == "liste.rouge@demo.mssante.fr" for p in sandbox.resources["Practitioner"] for t in p["telecom"]
    )
    organizations = client.organizations()
    assert organizations
    assert all(not r.address.endswith("@exemple.fr") for r in organizations)
    assert {r.kind for r in organizations} == {"ORG"}


def test_mailbox_metadata_of_the_ig_example() -> None:
    telecom = {
        "extension": [
            {
                "url": "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata",
                "extension": [
                    {
                        "url": "type",
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL",
                                    "code": "ORG",
                                }
                            ]
                        },
                    },
                    {"url": "description", "valueString": "DR HOUSE Secrétariat "},
                    {"url": "digitization", "valueBoolean": True},
                ],
            }
        ],
        "system": "email",
        "value": "secretariat.drhouse@aura.mssante.fr",
    }
    assert mailbox_metadata(telecom) == {"type": "ORG", "description": "DR HOUSE Secrétariat"}
    organization = {"resourceType": "Organization", "id": "1", "name": "CENTRE DE SANTE DR HOUSE", "telecom": [telecom]}
    [record] = records_from_resource(organization)
    assert (record.kind, record.organisation, record.service) == (
        "ORG",
        "CENTRE DE SANTE DR HOUSE",
        "DR HOUSE Secrétariat",
    )


def test_wrong_api_key_is_unavailable_in_french(endpoint: AnnuaireEndpoint) -> None:
    bad = AnnuaireEndpoint(endpoint.url, "pas-la-bonne", endpoint.ca_bundle, 5)
    with AnnuaireClient(bad) as client, pytest.raises(AnnuaireUnavailable, match="clé d'API refusée"):
        client.practitioners(name="martin")


def test_server_errors_and_garbage(client: AnnuaireClient, sandbox: AnnuaireSandbox) -> None:
    sandbox.fail_next(1, "http_503")
    with pytest.raises(AnnuaireUnavailable, match="erreur 503"):
        client.practitioners(name="martin")
    sandbox.fail_next(1, "garbage")
    with pytest.raises(AnnuaireUnavailable, match="illisible"):
        client.practitioners(name="martin")
    sandbox.fail_next(1, "drop_connection")
    with pytest.raises(AnnuaireUnavailable, match="injoignable"):
        client.practitioners(name="martin")
    assert client.practitioners(name="martin")  # and the next call works


def test_timeout(endpoint: AnnuaireEndpoint, sandbox: AnnuaireSandbox) -> None:
    quick = AnnuaireEndpoint(endpoint.url, API_KEY, endpoint.ca_bundle, 0.5)
    sandbox.fail_next(1, "slow", delay_seconds=1.5)
    with AnnuaireClient(quick) as client, pytest.raises(AnnuaireUnavailable, match="délai"):
        client.practitioners(name="martin")


def test_untrusted_server_certificate(endpoint: AnnuaireEndpoint) -> None:
    system_ca = AnnuaireEndpoint(endpoint.url, API_KEY, None, 5)  # the sandbox CA is not a public one
    with AnnuaireClient(system_ca) as client, pytest.raises(AnnuaireUnavailable, match="certificat"):
        client.practitioners(name="martin")


def test_next_link_to_another_host_is_refused(client: AnnuaireClient) -> None:
    with pytest.raises(AnnuaireUnavailable, match="autre serveur"):
        client._get("https://ailleurs.example/fhir/v2/Practitioner")


@pytest.mark.django_db
def test_endpoint_from_the_sandbox_settings_and_store(sandbox: AnnuaireSandbox, pki: SandboxPki, settings: Any) -> None:
    use_sandbox_settings(settings, annuaire_settings(sandbox.url, API_KEY, pki))
    assert annuaire_endpoint().url == sandbox.url
    records = fhir_search("leroy")
    assert "anne.leroy@demo.mssante.fr" in {r.address for r in records}
    store_records(records)
    entry = DirectoryEntry.objects.get(address="anne.leroy@demo.mssante.fr")
    assert entry.source == "fhir" and entry.search_name.startswith("LEROYANNE")
    assert [e.address for e in directory_search("ler", specialty="cardiologie")] == ["anne.leroy@demo.mssante.fr"]


def test_real_endpoint_settings(settings: object, tmp_path: Path) -> None:
    settings.ANNUAIRE_URL = "https://gateway.api.esante.gouv.fr/fhir/v2"  # type: ignore[attr-defined]
    settings.ANNUAIRE_API_KEY = ""  # type: ignore[attr-defined]
    settings.ANNUAIRE_API_KEY_FILE = None  # type: ignore[attr-defined]
    with pytest.raises(ImproperlyConfigured, match="CADUCEE_ANNUAIRE_API_KEY"):
        annuaire_endpoint()
    key_file = tmp_path / "annuaire.key"
    key_file.write_text("cle-du-fichier\n")
    settings.ANNUAIRE_API_KEY_FILE = key_file  # type: ignore[attr-defined]
    assert annuaire_endpoint().api_key == "cle-du-fichier"
    settings.ANNUAIRE_URL = "http://gateway.api.esante.gouv.fr/fhir/v2"  # type: ignore[attr-defined]
    with pytest.raises(ImproperlyConfigured, match="https"):
        annuaire_endpoint()


@pytest.mark.django_db
def test_fhir_command(sandbox: AnnuaireSandbox, pki: SandboxPki, settings: Any) -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    use_sandbox_settings(settings, annuaire_settings(sandbox.url, API_KEY, pki))
    out = StringIO()
    call_command("annuaire", "fhir", "--bal", "hugo.bernard@demo.mssante.fr", "--exact", "--enregistrer", stdout=out)
    assert out.getvalue().strip() == ("DR BERNARD Hugo — Médecine Générale — 69003 LYON — hugo.bernard@demo.mssante.fr")
    assert DirectoryEntry.objects.get(address="hugo.bernard@demo.mssante.fr").source == "fhir"
    sandbox.fail_next(1, "http_503")
    with pytest.raises(CommandError, match="Annuaire Santé : erreur 503"):
        call_command("annuaire", "fhir", "--nom", "martin", stdout=StringIO())
    with pytest.raises(CommandError, match="--nom ou --bal"):
        call_command("annuaire", "fhir", stdout=StringIO())
