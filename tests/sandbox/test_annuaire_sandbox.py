"""The Annuaire Santé sandbox: synthetic extraction file and the HTTPS FHIR endpoint, spoken to with plain HTTP
(requests), not through the product's client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from caducee.sandbox.annuaire import (
    EXT_MAILBOX,
    HEADER,
    AnnuaireSandbox,
    generate_extraction,
    start_annuaire_sandbox,
)
from caducee.sandbox.pki import SandboxPki, ensure_pki

API_KEY = "cle-de-test-annuaire"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return ensure_pki(tmp_path_factory.mktemp("annuaire-pki"))


@pytest.fixture(scope="module")
def sandbox(pki: SandboxPki) -> Iterator[AnnuaireSandbox]:
    handle = start_annuaire_sandbox(ca=pki.ca_cert, cert=pki.server_cert, key=pki.server_key, api_key=API_KEY)
    yield handle
    handle.stop()


def _get(sandbox: AnnuaireSandbox, pki: SandboxPki, path: str, key: str = API_KEY, **params: str) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/{path}",
        params=params,
        headers={"ESANTE-API-KEY": key},
        verify=str(pki.ca_cert),
        timeout=10,
    )


def test_generated_extraction_has_the_public_layout(tmp_path: Path) -> None:
    path = tmp_path / "ext.txt"
    assert generate_extraction(path, rows=3000, seed=7) == 3000
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER and len(lines[0].split("|")) == 31
    assert len(lines) == 3001
    assert all(len(line.split("|")) == 31 for line in lines[1:])
    assert lines[1].startswith("PER|claire.martin@demo.mssante.fr|8|89970012345|889970012345|")
    assert lines[2].startswith("PER|hugo.bernard@demo.mssante.fr|")
    kinds = {line.split("|")[0] for line in lines[1:]}
    assert kinds == {"PER", "ORG"}
    # Deterministic for a seed, different for another.
    other = tmp_path / "other.txt"
    generate_extraction(other, rows=3000, seed=7)
    assert other.read_bytes() == path.read_bytes()
    generate_extraction(other, rows=3000, seed=8)
    assert other.read_bytes() != path.read_bytes()


def test_generated_extraction_repeats_a_few_addresses(tmp_path: Path) -> None:
    path = tmp_path / "ext.txt"
    generate_extraction(path, rows=20_000, seed=1)
    addresses = [line.split("|")[1] for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    duplicates = len(addresses) - len(set(addresses))
    assert 0 < duplicates < 40  # like the real file: 169 of ~536,000


def test_api_key_is_required(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    response = _get(sandbox, pki, "Practitioner", key="mauvaise-cle", name="martin")
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    assert sandbox.requests[-1].api_key_ok is False


def test_tls_is_required_and_checked(sandbox: AnnuaireSandbox) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sandbox.url}/metadata", headers={"ESANTE-API-KEY": API_KEY}, timeout=5)  # unknown CA
    plain = sandbox.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{plain}/metadata", timeout=5)


def test_practitioner_by_exact_mailbox(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    response = _get(sandbox, pki, "Practitioner", **{"mailbox-mss:exact": "claire.martin@demo.mssante.fr"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset" and bundle["total"] == 1
    practitioner = bundle["entry"][0]["resource"]
    assert practitioner["name"][0]["family"] == "MARTIN"
    assert {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "889970012345"}.items() <= practitioner["identifier"][
        0
    ].items()
    telecom = practitioner["telecom"][0]
    assert telecom["value"] == "claire.martin@demo.mssante.fr"
    assert any(e["url"] == EXT_MAILBOX for e in telecom["extension"])


def test_name_search_ignores_case_and_accents(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    bundle = _get(sandbox, pki, "Practitioner", name="leröy").json()
    families = {e["resource"]["name"][0]["family"] for e in bundle["entry"]}
    assert "LEROY" in families
    assert all(f.startswith("LEROY") for f in families)
    assert _get(sandbox, pki, "Practitioner", **{"name:exact": "leroy"}).json()["total"] == 0
    assert _get(sandbox, pki, "Practitioner", **{"name:exact": "LEROY"}).json()["total"] >= 1


def test_paging_follows_next_links(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    bundle = _get(sandbox, pki, "Practitioner", **{"mailbox-mss:contains": "@", "_count": "40"}).json()
    total = bundle["total"]
    assert total > 80
    seen = [e["resource"]["id"] for e in bundle["entry"]]
    pages = 1
    while next_link := next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None):
        bundle = requests.get(
            next_link, headers={"ESANTE-API-KEY": API_KEY}, verify=str(pki.ca_cert), timeout=10
        ).json()
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        pages += 1
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 40)


def test_practitioner_role_includes_its_practitioner(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    bundle = _get(
        sandbox,
        pki,
        "PractitionerRole",
        **{"mailbox-mss:exact": "anne.leroy@demo.mssante.fr", "_include": "PractitionerRole:practitioner"},
    ).json()
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert modes == [("PractitionerRole", "match"), ("Practitioner", "include")]


def test_organization_mailboxes_and_plain_emails(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    bundle = _get(sandbox, pki, "Organization", **{"_count": "500"}).json()
    telecoms = [t for e in bundle["entry"] for t in e["resource"]["telecom"]]
    plain = [t for t in telecoms if not t.get("extension")]
    assert plain, "a structure's contact e-mail (no MSS extension) must exist to test clients"
    assert _get(sandbox, pki, "Organization", **{"mailbox-mss:contains": "exemple.fr"}).json()["total"] == 0


def test_errors_are_operation_outcomes(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    assert _get(sandbox, pki, "Patient").status_code == 404
    response = _get(sandbox, pki, "Practitioner", colour="bleu")
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"
    delete = requests.delete(
        f"{sandbox.url}/Practitioner/x", headers={"ESANTE-API-KEY": API_KEY}, verify=str(pki.ca_cert), timeout=5
    )
    assert delete.status_code == 405


def test_post_search_and_metadata(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    response = requests.post(
        f"{sandbox.url}/Practitioner/_search",
        data={"mailbox-mss:exact": "hugo.bernard@demo.mssante.fr"},
        headers={"ESANTE-API-KEY": API_KEY},
        verify=str(pki.ca_cert),
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["total"] == 1
    assert _get(sandbox, pki, "metadata").json()["resourceType"] == "CapabilityStatement"


def test_fault_injection(sandbox: AnnuaireSandbox, pki: SandboxPki) -> None:
    sandbox.fail_next(1, "http_503")
    assert _get(sandbox, pki, "Practitioner", name="martin").status_code == 503
    assert _get(sandbox, pki, "Practitioner", name="martin").status_code == 200
    with pytest.raises(ValueError):
        sandbox.fail_next(1, "meteor")
