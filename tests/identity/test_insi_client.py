"""INSi client against the sandbox over real mutual TLS: strategy, results, faults, failures, R11/R12."""

from __future__ import annotations

import io
import json
import socket
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from caducee.core.oids import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_TEST
from caducee.identity.insi.client import (
    InsiClient,
    InsiFault,
    InsiInvalidResponse,
    InsiRefusedTraits,
    InsiRejectedResult,
    InsiTraits,
    InsiUnavailable,
    VitaleQuery,
)
from caducee.identity.insi.endpoint import InsiEndpoint, insi_endpoint
from caducee.identity.models import InsiCall
from caducee.sandbox.pki import issue_client_certificate
from tests.sandbox import fixtures

# Sandbox fixtures (a single server per test run, see tests/sandbox/fixtures.py).
insi_sandbox = fixtures.insi_sandbox
insi_sandbox_session = fixtures.insi_sandbox_session


def _client(**kwargs) -> InsiClient:
    return InsiClient(insi_endpoint(), **kwargs)


def _sent(handle, since: int) -> list[list[str]]:
    return [r.fields.get("given_names") for r in handle.insi.requests[since:]]


# ---------------------------------------------------------------------------------------------
# Endpoint selection


def test_sandbox_endpoint_comes_from_the_settings_it_published(insi_sandbox):
    endpoint = insi_endpoint()
    assert endpoint.url == insi_sandbox.insi.url and endpoint.url.startswith("https://127.0.0.1:")
    assert endpoint.client_cert == insi_sandbox.pki.client_cert
    assert endpoint.ca_bundle == insi_sandbox.pki.ca_cert


def test_sandbox_mode_without_a_running_sandbox_says_what_to_do(settings, tmp_path):
    settings.SANDBOX = True
    settings.INSI_URL, settings.INSI_CLIENT_CERT, settings.INSI_CLIENT_KEY = "", None, None
    with pytest.raises(ImproperlyConfigured, match="lancez `caducee sandbox` avant Caducée"):
        insi_endpoint()


def test_real_mode_needs_url_and_certificate(settings):
    settings.INSI_URL = ""
    settings.INSI_CLIENT_CERT = None
    settings.INSI_CLIENT_KEY = None
    with pytest.raises(ImproperlyConfigured, match="CADUCEE_INSI_URL, CADUCEE_INSI_CERT, CADUCEE_INSI_KEY"):
        insi_endpoint()


def test_real_mode_reads_the_settings(settings, tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    settings.INSI_URL = "https://qualiflps-services-ps-tlsm.ameli.fr:443/lps"
    settings.INSI_CLIENT_CERT = cert
    settings.INSI_CLIENT_KEY = key
    settings.INSI_CA_BUNDLE = None
    endpoint = insi_endpoint()
    assert endpoint == InsiEndpoint(settings.INSI_URL, cert, key, None)
    settings.INSI_URL = "http://qualiflps.services-ps.ameli.fr/lps"
    with pytest.raises(ImproperlyConfigured, match="https://"):
        insi_endpoint()


# ---------------------------------------------------------------------------------------------
# Results and the CNDA strategy (notes §3.3)


def test_adrtrois_dominique_found_over_mutual_tls(insi_sandbox):
    since = len(insi_sandbox.insi.requests)
    result = _client().search_traits(InsiTraits("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26", "2A020"))
    assert (result.code, result.label, result.attempts) == ("00", "OK", 1)
    assert result.endpoint == insi_sandbox.insi.url
    identity = result.identity
    assert identity is not None
    assert (identity.matricule, identity.key, identity.oid) == ("297022A020778", "78", OID_INS_NIR)
    assert (identity.birth_name, identity.given_names, identity.first_given_name) == (
        "ADRTROIS",
        "DOMINIQUE",
        "DOMINIQUE",
    )
    assert (identity.sex, identity.birth_date, identity.birthplace_cog) == ("F", "1997-02-26", "2A020")
    assert "<CodeCR>00</CodeCR>" in result.response_xml
    record = insi_sandbox.insi.requests[since]
    assert record.client_cn == "INSI-MANU"
    assert record.fields["birthplace"] == "2A020"


def test_tchitchi_ola_then_catarina_two_attempts(insi_sandbox):
    since = len(insi_sandbox.insi.requests)
    result = _client().search_traits(InsiTraits("TCHITCHI", ["OLA", "CATARINA"], "F", "1936-06-21"))
    assert (result.code, result.attempts) == ("00", 2)
    assert result.identity is not None
    assert (result.identity.matricule, result.identity.key) == ("2360663220836", "56")
    assert result.identity.given_names == "CATARINA BELLA"
    assert result.identity.first_given_name == "CATARINA"  # first word of ListePrenom
    assert _sent(insi_sandbox, since) == [["OLA"], ["CATARINA"]]
    assert len(result.requests_xml) == 2


def test_houilles_four_attempts_all_not_found(insi_sandbox):
    since = len(insi_sandbox.insi.requests)
    result = _client().search_traits(InsiTraits("HOUILLES", ["PIERRE PAUL JACQUES"], "M", "1993-01-27"))
    assert (result.code, result.label, result.attempts, result.identity) == (
        "01",
        "Aucune identite trouvee",
        4,
        None,
    )
    assert _sent(insi_sandbox, since) == [["PIERRE"], ["PAUL"], ["JACQUES"], ["PIERRE PAUL JACQUES"]]


def test_ecetinsi_history_and_nia(insi_sandbox):
    client = _client()
    result = client.search_traits(InsiTraits("ECETINSI", ["PIERRE-ALAIN"], "M", "2009-07-14"))
    assert result.identity is not None
    assert (result.identity.matricule, result.identity.key) == ("1090763220834", "89")
    assert result.identity.history == [
        {
            "matricule": "2090763220834",
            "key": "39",
            "oid": OID_INS_NIR,
            "start": "2019-03-01",
            "end": "2019-02-28",
        },
        {"matricule": "2090663220123", "key": "55", "oid": OID_INS_NIR, "start": None, "end": None},
    ]
    nia = client.search_traits(InsiTraits("PROVISOIRE", ["MATRICULE"], "M", "2009-07-01"))
    assert nia.identity is not None and nia.identity.oid == OID_INS_NIA
    assert nia.identity.first_given_name == "MATRICULE"


def test_homonyms_give_02_and_the_birthplace_decides(insi_sandbox):
    client = _client()
    several = client.search_traits(InsiTraits("MARTIN", ["CAMILLE"], "F", "1990-04-12"))
    assert (several.code, several.label, several.identity) == ("02", "Plusieurs identites trouvees", None)
    one = client.search_traits(InsiTraits("MARTIN", ["CAMILLE"], "F", "1990-04-12", "69123"))
    assert one.code == "00" and one.identity is not None and one.identity.oid == OID_INS_NIR_TEST


def test_names_are_normalised_before_the_call_cnda_2_03_cas_1(insi_sandbox):
    # Lower case, accents and typographic apostrophes become the INSi alphabet.
    result = _client().search_traits(InsiTraits("d’Artagnan de l’Hérault", ["Pierre-Alain"], "m", "2001-06-17"))
    assert result.code == "00"
    assert result.identity is not None and result.identity.birth_name == "D'ARTAGNAN DE L'HERAULT"


def test_carte_vitale_search_uses_od_nir_and_rang(insi_sandbox):
    client = _client()
    twin = client.search_vitale(VitaleQuery(None, "2 84 09 33 063 274 51", "FONTAINE", "2015-03-11", "2"))
    assert twin.code == "00" and twin.identity is not None
    assert (twin.identity.given_names, twin.identity.matricule) == ("LOUIS", "1150333063612")
    nobody = client.search_vitale(VitaleQuery(None, "284093306327451", "FONTAINE", "2015-03-11", "3"))
    assert nobody.code == "01"


# ---------------------------------------------------------------------------------------------
# Refused before any call (CNDA test 2.03 cas 3)


@pytest.mark.parametrize(
    ("traits", "why"),
    [
        (InsiTraits("D'ÆION", ["CŒUR"], "M", "1987-01-01"), "ligatures"),
        (InsiTraits("DUPONT", ["CŒUR"], "M", "1987-01-01"), "ligatures"),
        (InsiTraits("DUPONT2", ["JEAN"], "M", "1987-01-01"), "refusé par INSi"),
        (InsiTraits("DUPONT", ["JEAN3"], "M", "1987-01-01"), "refusé par INSi"),
        (InsiTraits("DUPONT", [], "M", "1987-01-01"), "Au moins un prénom"),
        (InsiTraits("DUPONT", ["JEAN"], "I", "1987-01-01"), "sexe M ou F"),
        (InsiTraits("DUPONT", ["JEAN"], "M", "01/01/1987"), "Date de naissance invalide"),
        (InsiTraits("DUPONT", ["JEAN"], "M", "1987-01-01", "2C123"), "COG"),
    ],
)
def test_traits_insi_refuses_are_refused_before_any_call(insi_sandbox, traits, why):
    since = len(insi_sandbox.insi.requests)
    with pytest.raises(InsiRefusedTraits, match=why):
        _client().search_traits(traits)
    assert insi_sandbox.insi.requests[since:] == []  # the server saw nothing


def test_vitale_with_an_invalid_nir_is_refused_before_any_call(insi_sandbox):
    since = len(insi_sandbox.insi.requests)
    with pytest.raises(InsiRefusedTraits, match="Clé de contrôle"):
        _client().search_vitale(VitaleQuery(None, "284093306327400", "FONTAINE", "2015-03-11", "1"))
    assert insi_sandbox.insi.requests[since:] == []


# ---------------------------------------------------------------------------------------------
# Faults and failures


def test_service_down_siram_40_is_a_fault(insi_sandbox):
    with pytest.raises(InsiFault) as excinfo:
        _client().search_traits(InsiTraits("PANNE", ["JEAN", "PAUL"], "M", "1980-01-01"))
    fault = excinfo.value
    assert (fault.code, fault.subcode, fault.detail_code) == ("Receiver", "siram_40", "insi_102")
    assert "temporairement inaccessible" in str(fault)
    assert fault.attempts == 1  # the strategy stops at the first error
    assert "siram_40" in fault.response_xml


def test_empty_idam_is_refused_by_the_service(insi_sandbox, settings):
    settings.INSI_IDAM = ""
    with pytest.raises(InsiFault) as excinfo:
        _client().search_traits(InsiTraits("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    fault = excinfo.value
    assert (fault.code, fault.subcode, fault.detail_code) == ("Sender", "siram_100", "desir_550")
    assert fault.detail == "Numéro d'autorisation du logiciel inconnu."


def test_certificate_with_another_cn_gets_desir_560(insi_sandbox, tmp_path):
    cert, key = tmp_path / "other.pem", tmp_path / "other.key"
    issue_client_certificate(insi_sandbox.pki, cert, key, common_name="CABINET DUPONT")
    endpoint = InsiEndpoint(insi_sandbox.insi.url, cert, key, insi_sandbox.pki.ca_cert)
    with pytest.raises(InsiFault) as excinfo:
        InsiClient(endpoint).search_traits(InsiTraits("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    assert excinfo.value.detail_code == "DESIR_560"


def test_client_without_certificate_is_refused_by_the_tls_handshake(insi_sandbox):
    since = len(insi_sandbox.insi.requests)
    endpoint = InsiEndpoint(insi_sandbox.insi.url, None, None, insi_sandbox.pki.ca_cert)
    with pytest.raises(InsiUnavailable, match=r"TLS|injoignable"):
        InsiClient(endpoint).search_traits(InsiTraits("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    assert insi_sandbox.insi.requests[since:] == []


def test_server_not_signed_by_the_trusted_ca_is_refused(insi_sandbox):
    endpoint = InsiEndpoint(insi_sandbox.insi.url, insi_sandbox.pki.client_cert, insi_sandbox.pki.client_key, None)
    with pytest.raises(InsiUnavailable, match="TLS"):
        InsiClient(endpoint).search_traits(InsiTraits("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))


def test_slow_service_times_out_within_the_timeout(insi_sandbox):
    started = time.monotonic()
    with pytest.raises(InsiUnavailable, match=r"délai \(1 s\)"):
        _client(timeout=1).search_traits(InsiTraits("LENTEUR", ["JEAN"], "M", "1980-01-01"))
    assert time.monotonic() - started < 2.5


def test_connection_refused_is_unavailable(insi_sandbox):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = InsiEndpoint(
        f"https://127.0.0.1:{port}/lps",
        insi_sandbox.pki.client_cert,
        insi_sandbox.pki.client_key,
        insi_sandbox.pki.ca_cert,
    )
    with pytest.raises(InsiUnavailable, match="injoignable"):
        InsiClient(endpoint).search_traits(InsiTraits("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))


def test_http_503_without_fault_is_unavailable(insi_sandbox):
    with pytest.raises(InsiUnavailable, match="HTTP 503"):
        _client().search_traits(InsiTraits("SURCHARGE", ["JEAN"], "M", "1980-01-01"))


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("CHARABIA", "XML illisible"),
        ("ENTITE", "DTD"),
        ("ESPACE", "espace de noms http://example.org/INSiResultat"),
        ("VOLUMINEUX", "trop volumineuse"),
    ],
)
def test_untrustworthy_answers_are_invalid(insi_sandbox, name, why):
    with pytest.raises(InsiInvalidResponse, match=why) as excinfo:
        _client().search_traits(InsiTraits(name, ["JEAN"], "M", "1980-01-01"))
    assert "root:" not in excinfo.value.response_xml  # XXE: /etc/passwd never read


# ---------------------------------------------------------------------------------------------
# Checks of an answer 00 (R11, R12, key)


@pytest.mark.parametrize(
    ("traits", "why"),
    [
        (InsiTraits("BENSAID", ["YOUCEF"], "M", "1948-00-00"), r"R11.*1948-00-00"),
        (InsiTraits("RAKOTOMALALA", ["HERY"], "M", "1979-08-21"), r"R12.*prénom"),
        (InsiTraits("HERMANN", ["GATIEN"], "M", "1981-03-24"), r"Clé de contrôle incorrecte : 60 saisie, 76"),
    ],
)
def test_answers_00_that_must_not_be_retrieved_are_rejected(insi_sandbox, traits, why):
    with pytest.raises(InsiRejectedResult, match=why) as excinfo:
        _client().search_traits(traits)
    assert "<CodeCR>00</CodeCR>" in excinfo.value.response_xml  # kept for the trace (R39)


# ---------------------------------------------------------------------------------------------
# `caducee insi`


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("insi", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_insi_search_command_prints_json_and_traces_the_call(insi_sandbox):
    out, _ = _run(
        "search",
        "--nom",
        "ADRTROIS",
        "--prenoms",
        "DOMINIQUE",
        "--sexe",
        "F",
        "--naissance",
        "1997-02-26",
        "--json",
    )
    data = json.loads(out)
    assert data["code"] == "00" and data["libelle"] == "OK"
    assert (data["matricule"], data["cle"], data["oid"], data["nature"]) == (
        "297022A020778",
        "78",
        OID_INS_NIR,
        "NIR",
    )
    assert data["traits"]["lieu_naissance"] == "2A020" and data["tentatives"] == 1
    call = InsiCall.objects.get()
    assert (call.outcome, call.attempts, call.result["matricule"]) == ("00", 1, "297022A020778")


@pytest.mark.django_db
def test_insi_search_command_not_found_is_01(insi_sandbox):
    out, _ = _run(
        "search",
        "--nom",
        "INEXISTANT",
        "--prenoms",
        "JEAN",
        "PAUL",
        "--sexe",
        "M",
        "--naissance",
        "1970-01-01",
        "--json",
    )
    data = json.loads(out)
    assert (data["code"], data["matricule"], data["tentatives"]) == ("01", None, 3)


@pytest.mark.django_db
def test_insi_command_errors_exit_non_zero_with_a_french_message(insi_sandbox):
    with pytest.raises(CommandError, match="temporairement inaccessible"):
        _run("search", "--nom", "PANNE", "--prenoms", "JEAN", "--sexe", "M", "--naissance", "1970-01-01")
    assert InsiCall.objects.get().outcome == InsiCall.Outcome.FAULT


@pytest.mark.django_db
def test_insi_vitale_command(insi_sandbox):
    out, _ = _run(
        "vitale",
        "--nir-od",
        "284093306327451",
        "--nom",
        "FONTAINE",
        "--naissance",
        "2015-03-11",
        "--rang",
        "1",
    )
    assert "INSi : 00 OK" in out and "FONTAINE JULES" in out and "NIR de test" in out


@pytest.mark.django_db
def test_insi_command_starts_the_sandbox_when_none_answers(settings, tmp_path):
    """Issue 2's acceptance, on a fresh data dir with CADUCEE_SANDBOX=1: the command starts `caducee sandbox --only
    insi` in a child process, uses the settings it publishes, and stops it (sandbox.env removed)."""
    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path
    settings.INSI_URL, settings.INSI_CLIENT_CERT, settings.INSI_CLIENT_KEY = "", None, None
    out, err = _run(
        "search",
        "--nom",
        "ADRTROIS",
        "--prenoms",
        "DOMINIQUE",
        "--sexe",
        "F",
        "--naissance",
        "1997-02-26",
        "--json",
    )
    assert json.loads(out)["matricule"] == "297022A020778"
    assert "Bac à sable INSi démarré pour la durée de la commande (https://127.0.0.1:" in err
    assert InsiCall.objects.get().endpoint.startswith("https://127.0.0.1:")
    assert not (tmp_path / "sandbox.env").exists()  # the child sandbox stopped and removed it
    assert settings.INSI_URL == ""  # the settings it published held for the command only


@pytest.mark.django_db
def test_insi_command_uses_a_sandbox_started_after_this_process(insi_sandbox_session, settings, tmp_path):
    """A `caducee sandbox` started after Caducée read its settings: its published settings are taken, none started."""
    from caducee.sandbox.runner import write_settings_file

    settings.SANDBOX = True
    settings.DATA_DIR = tmp_path
    settings.INSI_URL = ""
    write_settings_file(tmp_path / "sandbox.env", insi_sandbox_session.settings)
    since = len(insi_sandbox_session.insi.requests)
    out, err = _run("search", "--nom", "ADRTROIS", "--prenoms", "DOMINIQUE", "--sexe", "F", "--naissance", "1997-02-26")
    assert "INSi : 00 OK" in out and "démarré" not in err
    assert len(insi_sandbox_session.insi.requests) == since + 1
