"""Pro Santé Connect login against the PSC sandbox (issue 6 §1 and §4): code flow with PKCE and eidas1 (SC.PSC.01,
SC.PSC.08), account linking after a password check (SC.PSC.02), choice of the work situation (DB/CO.49), refresh and
end of session (SC.MSS/CONF.10), and the refusals of bad input: tampered ID tokens, replayed state, PSC down —
each with a clear message, no session, an audit row."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from caducee.accounts.models import PscSession, User
from caducee.accounts.psc import oidc
from caducee.accounts.psc.endpoint import psc_endpoint
from caducee.accounts.psc.services import PscSessionEnded, psc_access_token, psc_bearer
from caducee.core.crypto import unseal
from caducee.core.models import AuditEvent
from caducee.dmp.caller import dmp_caller
from tests.accounts.psc_client import callback_path, psc_login, start
from tests.accounts.test_syslog import LINE
from tests.conftest import PASSWORD
from tests.sandbox.psc_fixtures import CLAIRE, HUGO, JULIEN

pytestmark = pytest.mark.django_db


def _link_and_choose(client: Client, response, username: str = "medecin"):  # type: ignore[no-untyped-def]
    assert response.status_code == 302 and response["Location"] == "/connexion/psc/rapprochement/"
    page = client.get("/connexion/psc/rapprochement/")
    assert "première connexion par e-CPS" in page.content.decode()
    response = client.post("/connexion/psc/rapprochement/", {"username": username, "password": PASSWORD})
    return response


def _refused(client: Client, response, message: str) -> None:  # type: ignore[no-untyped-def]
    """A refused step sends back to the login page, which shows the reason."""
    assert response.status_code == 302 and response["Location"] == "/connexion/", response
    page = client.get("/connexion/").content.decode()
    assert message in html.unescape(page), page[-2000:]


def _session_count() -> int:
    return PscSession.objects.count()


def test_authorization_request_is_psc_shaped(client: Client, psc_env) -> None:  # type: ignore[no-untyped-def]
    """SC.PSC.08 acr_values=eidas1; PKCE S256; scope openid scope_all; 64-hex nonce; the wallet URL."""
    url = start(client)
    assert url.startswith(psc_env.wallet_url + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert params["acr_values"] == "eidas1"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["scope"] == "openid scope_all" and params["response_type"] == "code"
    assert len(params["nonce"]) == 64 and int(params["nonce"], 16) >= 0
    assert params["redirect_uri"] == "http://127.0.0.1:8000/connexion/psc/retour/"
    assert params["state"]


def test_first_login_links_the_local_account_then_asks_the_work_situation(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    """SC.PSC.02 then DB/CO.49: Claire (two activities) links `medecin` (same RPPS) with its password, then picks."""
    response = _link_and_choose(client, psc_login(client, psc_env, CLAIRE))
    assert response.status_code == 302 and response["Location"] == "/connexion/psc/situation/"
    page = client.get("/connexion/psc/situation/").content.decode()
    assert "Cabinet des Tilleuls" in page and "Centre de santé Jean Moulin" in page
    assert _session_count() == 0  # not logged in before the choice
    response = client.post("/connexion/psc/situation/", {"situation": "e0-a1"})
    assert response.status_code == 302 and response["Location"] == "/"
    doctor.refresh_from_db()
    assert doctor.psc_sub and doctor.psc_linked_at
    session = PscSession.objects.get()
    assert session.user == doctor and session.national_id == CLAIRE and session.ended_at is None
    assert "Centre de santé Jean Moulin" in session.work_situation["label"]
    # Tokens are sealed at rest: the stored value is not the JWT.
    assert not session.access_token.startswith("ey") and unseal(session.access_token).startswith("ey")
    home = client.get("/")
    assert home.status_code == 200 and "Centre de santé Jean Moulin" in home.content.decode()
    actions = list(AuditEvent.objects.filter(action__startswith="auth.").values_list("action", "outcome"))
    assert ("auth.psc.link", "ok") in actions and ("auth.psc.login", "ok") in actions


def test_second_login_needs_no_password(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    _link_and_choose(client, psc_login(client, psc_env, CLAIRE))
    client.post("/connexion/psc/situation/", {"situation": "e0-a0"})
    client.post("/deconnexion/")
    other = Client()
    response = psc_login(other, psc_env, CLAIRE)
    assert response["Location"] == "/connexion/psc/situation/"  # straight to the choice, no password
    assert other.post("/connexion/psc/situation/", {"situation": "e0-a0"})["Location"] == "/"
    assert other.get("/").status_code == 200


def test_one_work_situation_is_taken_without_asking(client: Client, psc_env, practice) -> None:  # type: ignore[no-untyped-def]
    hugo = User.objects.create_user(username="hugo", password=PASSWORD, role="medecin", rpps="89970023456")
    response = _link_and_choose(client, psc_login(client, psc_env, HUGO, next_url="/messagerie/"), username="hugo")
    assert response.status_code == 302 and response["Location"] == "/messagerie/"
    assert PscSession.objects.get().user == hugo


def test_linking_refuses_another_local_account(client: Client, psc_env, doctor, secretary) -> None:  # type: ignore[no-untyped-def]
    """SC.PSC.02: only the account bearing the same national id can be linked, whatever password is known."""
    response = _link_and_choose(client, psc_login(client, psc_env, CLAIRE), username="secretaire")
    _refused(client, response, "ne porte pas votre identifiant national")
    assert User.objects.filter(psc_sub__isnull=False).count() == 0 and _session_count() == 0
    assert client.get("/").status_code == 302


def test_wrong_password_does_not_link(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    psc_login(client, psc_env, CLAIRE)
    response = client.post("/connexion/psc/rapprochement/", {"username": "medecin", "password": "faux"})
    assert response.status_code == 401
    doctor.refresh_from_db()
    assert doctor.psc_sub is None and doctor.failed_logins == 1 and _session_count() == 0


def test_professional_without_local_account_is_refused(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    response = psc_login(client, psc_env, JULIEN)
    _refused(client, response, "Aucun compte Caducée ne porte votre identifiant national")
    assert _session_count() == 0 and client.get("/").status_code == 302
    refused = AuditEvent.objects.get(action="auth.psc.login")
    assert refused.outcome == "refused" and refused.detail["reason"] == "aucun compte"


def test_replayed_state_is_refused(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    back = psc_env.approve_for_tests(start(client), CLAIRE)
    assert client.get(callback_path(back))["Location"] == "/connexion/psc/rapprochement/"
    replay = client.get(callback_path(back))
    _refused(client, replay, "rejoué ou expiré")
    assert AuditEvent.objects.filter(action="auth.psc.login", detail__reason="state inconnu ou rejoué").count() == 1


def test_state_from_another_browser_is_refused(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    """Login CSRF: a callback started in someone else's browser has no state here."""
    back = psc_env.approve_for_tests(start(Client()), CLAIRE)
    response = client.get(callback_path(back))
    _refused(client, response, "ne correspond à aucune connexion en cours")
    assert _session_count() == 0


def test_denied_on_the_ecps(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    back = psc_env.deny_for_tests(start(client))
    response = client.get(callback_path(back))
    _refused(client, response, "Connexion refusée sur votre e-CPS")
    assert _session_count() == 0


def test_psc_down_gives_a_clear_refusal(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    psc_env.down = True
    response = client.get("/connexion/psc/", follow=True)
    assert response.redirect_chain == [("/connexion/", 302)]
    page = response.content.decode()
    assert "Pro Santé Connect indisponible (HTTP 503)" in page and 'id="password"' in page  # the password still works
    assert AuditEvent.objects.get(action="auth.psc.login").outcome == "refused"
    assert _session_count() == 0


def test_psc_down_between_the_redirect_and_the_callback(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    back = psc_env.approve_for_tests(start(client), CLAIRE)
    psc_env.down = True
    response = client.get(callback_path(back))
    _refused(client, response, "réessayez")
    assert _session_count() == 0 and client.get("/").status_code == 302


def test_psc_not_configured_sends_back_to_the_password_login(client: Client, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX, settings.PSC_METADATA_URL = False, ""
    response = client.get("/connexion/psc/", follow=True)
    assert response.redirect_chain == [("/connexion/", 302)]
    assert "Pro Santé Connect non configuré" in response.content.decode()
    assert "Se connecter avec Pro Santé Connect" not in response.content.decode()  # not offered either


def test_userinfo_as_signed_jwt(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    psc_env.userinfo_format = "jwt"
    _link_and_choose(client, psc_login(client, psc_env, CLAIRE))
    assert client.post("/connexion/psc/situation/", {"situation": "e0-a0"})["Location"] == "/"
    assert [e for e in psc_env.events if e["event"] == "userinfo" and e["outcome"] == "ok"][-1]["format"] == "jwt"
    assert PscSession.objects.get().national_id == CLAIRE


def test_key_rotation_reloads_the_jwks(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    """The JWKS is cached; a token signed by a new kid makes the client reload it once."""
    _link_and_choose(client, psc_login(client, psc_env, CLAIRE))
    client.post("/connexion/psc/situation/", {"situation": "e0-a0"})
    psc_env.rotate_keys(drop_old=True)
    other = Client()
    response = psc_login(other, psc_env, CLAIRE)
    assert response.status_code == 302, response.content.decode()[-1500:]
    assert response["Location"] == "/connexion/psc/situation/"


# ---------------------------------------------------------------------------------------------
# Tampered ID tokens (issue 6 §4), checked by the client's verification with the sandbox's real metadata


def _claims(psc_env, **overrides):  # type: ignore[no-untyped-def]
    now = int(time.time())
    claims = {
        "iss": psc_env.url,
        "sub": "f:sandbox:claire",
        "aud": psc_env.client_id,
        "exp": now + 300,
        "iat": now,
        "nonce": "n" * 64,
        "acr": "eidas1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict) -> str:  # type: ignore[type-arg]
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_well_formed_id_token_passes(psc_env) -> None:  # type: ignore[no-untyped-def]
    token = psc_env.keys.sign(_claims(psc_env))
    assert oidc.verify_id_token(psc_endpoint(), token, nonce="n" * 64)["sub"] == "f:sandbox:claire"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example/auth/realms/esante-wallet"}, "id_token: iss"),
        ({"aud": "another-client"}, "id_token: audience"),
        ({"aud": ["caducee", "other"], "azp": "other"}, "id_token: azp"),
        ({"nonce": "m" * 64}, "id_token: nonce"),
        ({"exp": int(time.time()) - 3600}, "id_token: expiré"),
        ({"iat": int(time.time()) + 3600}, "id_token: iat futur"),
        ({"acr": "eidas2"}, "id_token: acr eidas2"),
    ],
)
def test_tampered_claims_are_refused(psc_env, overrides, reason) -> None:  # type: ignore[no-untyped-def]
    overrides = {k: (psc_env.client_id if v == "caducee" else v) for k, v in overrides.items()}
    if isinstance(overrides.get("aud"), list):
        overrides["aud"] = [psc_env.client_id, "other"]
    token = psc_env.keys.sign(_claims(psc_env, **overrides))
    with pytest.raises(oidc.PscError) as caught:
        oidc.verify_id_token(psc_endpoint(), token, nonce="n" * 64)
    assert caught.value.reason == reason


def test_wrong_signature_is_refused(psc_env) -> None:  # type: ignore[no-untyped-def]
    """Signed by a key PSC never published, under a published kid."""
    rogue = RSAKey.generate_key(2048, parameters={"kid": psc_env.keys.kid})
    token = jwt.encode({"alg": "RS256", "kid": psc_env.keys.kid}, _claims(psc_env), rogue)
    with pytest.raises(oidc.PscError, match="Signature"):
        oidc.verify_id_token(psc_endpoint(), token, nonce="n" * 64)


def test_alg_none_is_refused(psc_env) -> None:  # type: ignore[no-untyped-def]
    token = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(psc_env)) + "."
    with pytest.raises(oidc.PscError) as caught:
        oidc.verify_id_token(psc_endpoint(), token, nonce="n" * 64)
    assert caught.value.reason == "id_token: alg none refusé"


def test_hs256_signed_with_the_public_key_is_refused(psc_env) -> None:  # type: ignore[no-untyped-def]
    """The algorithm-confusion attack: HMAC keyed with PSC's public key."""
    public = json.dumps(psc_env.keys.jwks()["keys"][0]).encode()
    token = jwt.encode({"alg": "HS256"}, _claims(psc_env), OctKey.import_key(public))
    with pytest.raises(oidc.PscError) as caught:
        oidc.verify_id_token(psc_endpoint(), token, nonce="n" * 64)
    assert caught.value.reason == "id_token: alg HS256 refusé"


def test_payload_altered_after_signing_is_refused(psc_env) -> None:  # type: ignore[no-untyped-def]
    header, _, signature = psc_env.keys.sign(_claims(psc_env)).split(".")
    forged = header + "." + _b64(_claims(psc_env, sub="f:sandbox:someone-else")) + "." + signature
    with pytest.raises(oidc.PscError, match="Signature"):
        oidc.verify_id_token(psc_endpoint(), forged, nonce="n" * 64)


def test_tampered_id_token_in_the_flow_creates_no_session(client: Client, psc_env, doctor, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real = oidc.exchange_code

    def tampered(*args, **kwargs):  # type: ignore[no-untyped-def]
        tokens = real(*args, **kwargs)
        header, payload, signature = tokens.id_token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = "f:someone-else"
        return oidc.TokenSet(**{**tokens.__dict__, "id_token": f"{header}.{_b64(claims)}.{signature}"})

    monkeypatch.setattr(oidc, "exchange_code", tampered)
    response = psc_login(client, psc_env, CLAIRE)
    _refused(client, response, "Signature du jeton")
    assert _session_count() == 0 and client.get("/").status_code == 302
    assert AuditEvent.objects.get(action="auth.psc.login").detail["reason"].startswith("id_token: signature")


# ---------------------------------------------------------------------------------------------
# After login: refresh, end of the PSC session, the other clients


def _logged_in(client: Client, psc_env, doctor) -> PscSession:  # type: ignore[no-untyped-def]
    _link_and_choose(client, psc_login(client, psc_env, CLAIRE))
    client.post("/connexion/psc/situation/", {"situation": "e0-a0"})
    return PscSession.objects.get(user=doctor)


def test_access_token_is_refreshed_before_expiry(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    session = _logged_in(client, psc_env, doctor)
    first = psc_access_token(user=doctor)
    assert first == unseal(session.access_token)
    PscSession.objects.filter(pk=session.pk).update(access_expires_at=timezone.now() + timedelta(seconds=20))
    second = psc_access_token(user=doctor)  # within the 30 s margin: refreshed
    assert second != first
    session.refresh_from_db()
    assert unseal(session.access_token) == second and session.access_expires_at > timezone.now() + timedelta(seconds=60)


def test_end_of_the_psc_session_ends_everything(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    """SC.MSS/CONF.10: the refresh refused → PSC session ended, tokens wiped, web session logged out."""
    session = _logged_in(client, psc_env, doctor)
    psc_env.provider.expire_session()
    PscSession.objects.filter(pk=session.pk).update(access_expires_at=timezone.now())
    with pytest.raises(PscSessionEnded):
        psc_access_token(user=doctor)
    session.refresh_from_db()
    assert session.ended_at is not None and session.access_token == "" and session.refresh_token == ""
    assert psc_bearer(user=doctor) == ""
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/connexion/"
    assert AuditEvent.objects.filter(action="auth.psc.end").exists()


def test_keepalive_refreshes_an_active_user(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    session = _logged_in(client, psc_env, doctor)
    PscSession.objects.filter(pk=session.pk).update(refreshed_at=timezone.now() - timedelta(minutes=6))
    assert client.get("/").status_code == 200
    session.refresh_from_db()
    assert session.refreshed_at > timezone.now() - timedelta(minutes=1)


def test_psc_down_during_the_session_keeps_the_user_working(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    session = _logged_in(client, psc_env, doctor)
    PscSession.objects.filter(pk=session.pk).update(refreshed_at=timezone.now() - timedelta(minutes=6))
    psc_env.down = True
    assert client.get("/").status_code == 200
    session.refresh_from_db()
    assert session.ended_at is None


def test_dmp_and_insi_use_the_psc_identity(client: Client, psc_env, doctor, practice) -> None:  # type: ignore[no-untyped-def]
    """SC.DMP/PSC.01: VIHF mode INDIRECTE_RENFORCEE; SC.INS/PSC.01: the INSi call carries the PSC token."""
    assert dmp_caller(doctor, practice).auth_mode == "INDIRECTE"
    assert psc_bearer(user=doctor) == ""
    _logged_in(client, psc_env, doctor)
    caller = dmp_caller(doctor, practice)
    assert caller.auth_mode == "INDIRECTE_RENFORCEE"
    assert caller.sector == "SA07"
    assert psc_bearer(user=doctor).startswith("ey")


def test_logout_is_rp_initiated(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    session = _logged_in(client, psc_env, doctor)
    id_token = unseal(session.id_token)
    response = client.post("/deconnexion/")
    assert response.status_code == 200  # a page moving on by itself (CSP form-action forbids the redirect)
    page = response.content.decode()
    location = html.unescape(re.search(r'content="0;url=([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert f'href="{html.escape(location)}"' in page
    assert location.startswith(psc_env.provider.endpoints["logout"] + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["id_token_hint"] == id_token
    assert params["post_logout_redirect_uri"] == "http://127.0.0.1:8000/connexion/psc/deconnecte/"
    session.refresh_from_db()
    assert session.ended_at is not None
    assert client.get("/").status_code == 302
    assert hashlib.sha256(id_token.encode()).hexdigest() not in json.dumps(
        list(AuditEvent.objects.values_list("detail", flat=True))
    )


def test_mutual_tls_instead_of_the_client_secret(psc_env, psc_pki) -> None:  # type: ignore[no-untyped-def]
    """Client authentication at the token endpoint by certificate (tls_client_auth), no secret sent."""
    from dataclasses import replace

    from tests.sandbox.psc_fixtures import authorize_url, query

    auth = authorize_url(psc_env)
    code = query(psc_env.approve_for_tests(auth.url, CLAIRE))["code"]
    with_cert = replace(
        psc_endpoint(), client_secret="", client_cert=psc_pki.client_cert, client_key=psc_pki.client_key
    )
    tokens = oidc.exchange_code(with_cert, code=code, redirect_uri=auth.redirect_uri, code_verifier=auth.verifier)
    assert oidc.verify_id_token(with_cert, tokens.id_token, nonce=auth.nonce)["SubjectNameID"] == CLAIRE
    # Without the certificate and without the secret: refused.
    auth = authorize_url(psc_env)
    code = query(psc_env.approve_for_tests(auth.url, CLAIRE))["code"]
    with pytest.raises(oidc.PscError) as caught:
        oidc.exchange_code(
            replace(psc_endpoint(), client_secret=""),
            code=code,
            redirect_uri=auth.redirect_uri,
            code_verifier=auth.verifier,
        )
    assert caught.value.reason == "code: invalid_client"


def test_no_open_redirect_after_a_psc_login(client: Client, psc_env, doctor) -> None:  # type: ignore[no-untyped-def]
    for hostile in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        other = Client()
        response = psc_login(other, psc_env, CLAIRE, next_url=hostile)
        if response["Location"] == "/connexion/psc/rapprochement/":
            response = _link_and_choose(other, response)
        response = other.post("/connexion/psc/situation/", {"situation": "e0-a0"})
        assert response["Location"] == "/", hostile


def test_psc_logins_and_refusals_reach_the_syslog_collector(client: Client, psc_env, doctor, udp_collector) -> None:  # type: ignore[no-untyped-def]
    """SC.SSI/IAM.90 covers delegated authentication: PSC refusals and logins go out as syslog like the others."""
    psc_login(client, psc_env, JULIEN)  # refused: no local account
    _logged_in(client, psc_env, doctor)
    lines = [udp_collector.recv(65535).decode() for _ in range(4)]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    events = [(m["msgid"], m["pri"]) for m in parsed if m]
    # 13*8 + 4 (warning) for a refusal, + 6 (informational) for a success
    assert ("auth.psc.login", "108") in events and ("auth.psc.login", "110") in events, events
    assert ("auth.psc.link", "110") in events, events
    assert not any("eyJ" in line for line in lines)  # no token ever
