"""The Pro Santé Connect sandbox, driven as a relying party does: `requests` over HTTPS with the sandbox CA.

Rules: SC.PSC.01 (authorization code flow), SC.PSC.08 (acr_values=eidas1), PKCE S256, RFC 6749 §4.1.2 (a code used
twice revokes its tokens), PSC lifetimes (access 2 min, refresh 30 min rotated, session 4 h / 30 min idle, notes/psc
§1.4), userinfo JSON or signed JWT (§1.3), end_session and introspection (§1.4), key rotation with `kid`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from joserfc import jwt
from joserfc.jwk import KeySet

from caducee.cabinet.demo import DEMO_USERS
from caducee.sandbox.pki import SandboxPki
from caducee.sandbox.psc import ApprovalFailed, PscSandbox
from caducee.sandbox.psc.directory import default_professionals
from tests.sandbox.psc_fixtures import (
    CLAIRE,
    HUGO,
    JULIEN,
    REDIRECT_URI,
    SOPHIE,
    authorize_url,
    exchange,
    login,
    query,
    start_test_psc,
    token_call,
)


def _get(sandbox: PscSandbox, url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, verify=str(sandbox.ca), timeout=10, allow_redirects=False, **kwargs)


def _jwks(sandbox: PscSandbox) -> KeySet:
    meta = _get(sandbox, sandbox.metadata_url).json()
    return KeySet.import_key_set(_get(sandbox, meta["jwks_uri"]).json())


def _header(token: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==")))


def _verify(sandbox: PscSandbox, token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, _jwks(sandbox), algorithms=["RS256"]).claims)


def _refresh(sandbox: PscSandbox, refresh_token: str) -> requests.Response:
    return token_call(sandbox, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def _introspect(sandbox: PscSandbox, token: str, *, auth: tuple[str, str] | None = None) -> requests.Response:
    return requests.post(
        sandbox.provider.endpoints["introspect"],
        data={"token": token},
        auth=auth or (sandbox.client_id, sandbox.client_secret),
        verify=str(sandbox.ca),
        timeout=10,
    )


def _userinfo(sandbox: PscSandbox, token: str) -> requests.Response:
    return _get(sandbox, sandbox.provider.endpoints["userinfo"], headers={"Authorization": f"Bearer {token}"})


def _outcomes(sandbox: PscSandbox, event: str) -> list[str]:
    return [e["outcome"] for e in sandbox.events if e["event"] == event]


# -- metadata and keys ----------------------------------------------------------------------------------------------


def test_metadata_has_psc_paths_and_capabilities(psc_sandbox: PscSandbox) -> None:
    """notes/psc §1.1: the wallet-openid-configuration name, the realm esante-wallet, the wallet as
    authorization endpoint; PKCE S256, eidas1, RS256."""
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/auth/realms/esante-wallet", psc_sandbox.url)
    assert psc_sandbox.metadata_url == psc_sandbox.url + "/.well-known/wallet-openid-configuration"
    assert psc_sandbox.wallet_url == psc_sandbox.url.split("/auth/")[0] + "/wallet/auth"
    response = _get(psc_sandbox, psc_sandbox.metadata_url)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    meta = response.json()
    oidc = psc_sandbox.url + "/protocol/openid-connect"
    assert {k: meta[k] for k in meta if k not in ("claims_supported", "subject_types_supported")} == {
        "issuer": psc_sandbox.url,
        "authorization_endpoint": psc_sandbox.wallet_url,
        "token_endpoint": oidc + "/token",
        "userinfo_endpoint": oidc + "/userinfo",
        "end_session_endpoint": oidc + "/logout",
        "introspection_endpoint": oidc + "/token/introspect",
        "jwks_uri": oidc + "/certs",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": ["eidas1"],
        "scopes_supported": ["openid", "scope_all"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "tls_client_auth"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    jwks = _get(psc_sandbox, meta["jwks_uri"]).json()
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256" and key["kid"]
    assert "d" not in key and "p" not in key  # public part only
    assert _get(psc_sandbox, psc_sandbox.url + "/nulle-part").status_code == 404


def test_signing_key_is_kept_0600_and_survives_a_restart(tmp_path: Path, psc_pki: SandboxPki) -> None:
    keys_path = tmp_path / "psc-signing.pem"
    first = start_test_psc(psc_pki, keys_path)
    try:
        kid = first.keys.kid
        _, tokens = login(first)
    finally:
        first.stop()
    assert stat.S_IMODE(os.stat(keys_path).st_mode) == 0o600
    second = start_test_psc(psc_pki, keys_path)
    try:
        assert second.keys.kid == kid
        assert _verify(second, tokens["id_token"])["SubjectNameID"] == CLAIRE
    finally:
        second.stop()


def test_key_rotation_new_kid_old_one_listed_until_dropped(psc_sandbox: PscSandbox) -> None:
    old_kid = psc_sandbox.keys.kid
    _, before = login(psc_sandbox)
    new_kid = psc_sandbox.rotate_keys()
    assert new_kid != old_kid
    kids = [k["kid"] for k in _get(psc_sandbox, psc_sandbox.provider.endpoints["certs"]).json()["keys"]]
    assert kids == [new_kid, old_kid]
    _, after = login(psc_sandbox)
    assert _header(after["id_token"])["kid"] == new_kid and _header(after["access_token"])["kid"] == new_kid
    assert _header(before["id_token"])["kid"] == old_kid
    assert _verify(psc_sandbox, before["id_token"])["SubjectNameID"] == CLAIRE  # still verifiable
    assert _userinfo(psc_sandbox, before["access_token"]).status_code == 200
    newest = psc_sandbox.rotate_keys(drop_old=True)
    kids = [k["kid"] for k in _get(psc_sandbox, psc_sandbox.provider.endpoints["certs"]).json()["keys"]]
    assert kids == [newest]
    assert _userinfo(psc_sandbox, before["access_token"]).status_code == 401  # its key is gone
    assert stat.S_IMODE(os.stat(psc_sandbox.keys.path).st_mode) == 0o600


# -- the code flow --------------------------------------------------------------------------------------------------


def test_full_code_flow_with_pkce_tokens_verify_with_the_jwks(psc_sandbox: PscSandbox) -> None:
    """SC.PSC.01 web mode, PKCE S256, SC.PSC.08 acr eidas1: the id_token and the access token are RS256 with a kid
    of the JWKS and carry PSC's claims."""
    auth = authorize_url(psc_sandbox)
    redirect = psc_sandbox.approve_for_tests(auth.url, CLAIRE)
    assert redirect.startswith(REDIRECT_URI + "?")
    back = query(redirect)
    assert set(back) == {"code", "state"} and back["state"] == auth.state
    started = int(time.time())
    response = exchange(psc_sandbox, auth, back["code"])
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "id_token",
        "token_type",
        "not-before-policy",
        "scope",
        "session_state",
    }
    assert (tokens["expires_in"], tokens["refresh_expires_in"], tokens["token_type"]) == (120, 1800, "Bearer")
    assert tokens["scope"] == "openid scope_all"
    claire = next(p for p in default_professionals() if p["SubjectNameID"] == CLAIRE)

    id_claims = _verify(psc_sandbox, tokens["id_token"])
    assert _header(tokens["id_token"])["kid"] == psc_sandbox.keys.kid
    assert id_claims["iss"] == psc_sandbox.url
    assert id_claims["sub"] == claire["sub"]
    assert id_claims["aud"] == "caducee" and id_claims["azp"] == "caducee"
    assert id_claims["nonce"] == auth.nonce
    assert id_claims["acr"] == "eidas1" and id_claims["amr"] == ["mfa", "otp"] and id_claims["idp"] == "PSC"
    assert id_claims["sid"] == tokens["session_state"]
    assert id_claims["SubjectNameID"] == CLAIRE and id_claims["preferred_username"] == CLAIRE
    assert id_claims["exp"] == id_claims["iat"] + 300 and abs(id_claims["iat"] - started) <= 2
    assert abs(id_claims["auth_time"] - started) <= 2
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert id_claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    access = _verify(psc_sandbox, tokens["access_token"])
    assert access["iss"] == psc_sandbox.url and access["sub"] == claire["sub"]
    assert access["aud"] == ["caducee", "mssante"] and access["azp"] == "caducee"
    assert access["exp"] == access["iat"] + 120 and access["jti"] and access["sid"] == tokens["session_state"]
    assert access["scope"] == "openid scope_all" and access["typ"] == "Bearer"
    assert access["SubjectNameID"] == CLAIRE and access["preferred_username"] == CLAIRE

    assert _outcomes(psc_sandbox, "authorize") == ["page", "approved"]
    assert _outcomes(psc_sandbox, "token") == ["ok"]
    assert not any(tokens["access_token"] in json.dumps(e) for e in psc_sandbox.events)


def test_client_secret_post_and_a_wrong_secret(psc_sandbox: PscSandbox) -> None:
    auth = authorize_url(psc_sandbox)
    code = query(psc_sandbox.approve_for_tests(auth.url, HUGO))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": auth.redirect_uri}
    data["code_verifier"] = auth.verifier
    wrong = requests.post(
        psc_sandbox.provider.endpoints["token"],
        data=data,
        auth=(psc_sandbox.client_id, "pas-le-secret"),
        verify=str(psc_sandbox.ca),
        timeout=10,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    no_auth = requests.post(psc_sandbox.provider.endpoints["token"], data=data, verify=str(psc_sandbox.ca), timeout=10)
    assert no_auth.status_code == 401 and no_auth.json()["error"] == "invalid_client"
    in_query = requests.post(  # credentials in the URL are not client authentication
        psc_sandbox.provider.endpoints["token"],
        params={"client_id": psc_sandbox.client_id, "client_secret": psc_sandbox.client_secret},
        data=data,
        verify=str(psc_sandbox.ca),
        timeout=10,
    )
    assert in_query.status_code == 401 and in_query.json()["error"] == "invalid_client"
    mixed = requests.post(
        psc_sandbox.provider.endpoints["token"],
        data={**data, "client_id": "autre"},
        auth=(psc_sandbox.client_id, psc_sandbox.client_secret),
        verify=str(psc_sandbox.ca),
        timeout=10,
    )
    assert mixed.status_code == 400 and mixed.json()["error"] == "invalid_request"
    posted = token_call(psc_sandbox, data, basic=False)  # client_secret_post; the code was not spent by the refusals
    assert posted.status_code == 200, posted.text
    assert _verify(psc_sandbox, posted.json()["id_token"])["SubjectNameID"] == HUGO


def test_pkce_verifier_mismatch_is_invalid_grant(psc_sandbox: PscSandbox) -> None:
    auth = authorize_url(psc_sandbox)
    code = query(psc_sandbox.approve_for_tests(auth.url, CLAIRE))["code"]
    response = exchange(psc_sandbox, auth, code, verifier="x" * 64)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "PKCE : code_verifier ne correspond pas (S256)",
    }


def test_code_replay_is_refused_and_revokes_the_first_tokens(psc_sandbox: PscSandbox) -> None:
    """RFC 6749 §4.1.2: a code used twice → invalid_grant, and the tokens issued from it are revoked."""
    auth = authorize_url(psc_sandbox)
    code = query(psc_sandbox.approve_for_tests(auth.url, CLAIRE))["code"]
    first = exchange(psc_sandbox, auth, code).json()
    assert _introspect(psc_sandbox, first["access_token"]).json()["active"] is True
    replay = exchange(psc_sandbox, auth, code)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant", "error_description": "code déjà utilisé : jetons révoqués"}
    assert _introspect(psc_sandbox, first["access_token"]).json() == {"active": False}
    assert _introspect(psc_sandbox, first["refresh_token"]).json() == {"active": False}
    assert _refresh(psc_sandbox, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert _userinfo(psc_sandbox, first["access_token"]).status_code == 401


def test_code_expires_after_60_s_and_needs_the_same_redirect_uri(psc_sandbox: PscSandbox) -> None:
    auth = authorize_url(psc_sandbox)
    code = query(psc_sandbox.approve_for_tests(auth.url, CLAIRE))["code"]
    other = token_call(
        psc_sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:8000/ailleurs",
            "code_verifier": auth.verifier,
        },
    )
    assert other.json() == {
        "error": "invalid_grant",
        "error_description": "redirect_uri différente de celle de l'autorisation",
    }
    auth = authorize_url(psc_sandbox)
    code = query(psc_sandbox.approve_for_tests(auth.url, CLAIRE))["code"]
    psc_sandbox.advance(61)
    assert exchange(psc_sandbox, auth, code).json() == {
        "error": "invalid_grant",
        "error_description": "code expiré (60 s)",
    }
    assert token_call(psc_sandbox, {"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    assert _get(psc_sandbox, psc_sandbox.provider.endpoints["token"]).status_code == 405


# -- refresh and the PSC session ------------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_refused(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    renewed = _refresh(psc_sandbox, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    assert fresh["refresh_token"] != tokens["refresh_token"] and fresh["access_token"] != tokens["access_token"]
    assert fresh["session_state"] == tokens["session_state"] and fresh["refresh_expires_in"] == 1800
    assert _verify(psc_sandbox, fresh["id_token"])["sid"] == tokens["session_state"]
    old = _refresh(psc_sandbox, tokens["refresh_token"])
    assert old.status_code == 400
    assert old.json() == {
        "error": "invalid_grant",
        "error_description": "jeton de rafraîchissement déjà utilisé (rotation)",
    }
    assert _refresh(psc_sandbox, fresh["refresh_token"]).status_code == 200
    assert _outcomes(psc_sandbox, "refresh") == ["ok", "invalid_grant", "ok"]


def test_concurrent_refreshes_with_one_token_give_one_new_pair(psc_sandbox: PscSandbox) -> None:
    """Rotation is atomic: eight clients racing with the same refresh token, one wins."""
    from concurrent.futures import ThreadPoolExecutor

    _, tokens = login(psc_sandbox)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(lambda _: _refresh(psc_sandbox, tokens["refresh_token"]).status_code, range(8)))
    assert statuses == [200] + [400] * 7


def test_expired_session_makes_refresh_invalid_grant(psc_sandbox: PscSandbox) -> None:
    """End of the PSC session (SC.MSS/CONF.10 depends on it): refresh refused, userinfo refused."""
    _, tokens = login(psc_sandbox)
    _, other = login(psc_sandbox, HUGO)
    assert psc_sandbox.expire_session(tokens["session_state"]) == 1
    refused = _refresh(psc_sandbox, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "session PSC terminée" in refused.json()["error_description"]
    assert _userinfo(psc_sandbox, tokens["access_token"]).status_code == 401
    assert _refresh(psc_sandbox, other["refresh_token"]).status_code == 200  # other sessions live on


def test_session_dies_after_30_min_idle(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    psc_sandbox.advance(29 * 60)
    tokens = _refresh(psc_sandbox, tokens["refresh_token"]).json()
    psc_sandbox.advance(30 * 60)
    refused = _refresh(psc_sandbox, tokens["refresh_token"]).json()
    assert refused["error"] == "invalid_grant"


def test_session_ends_after_4_h_and_refresh_expires_in_shrinks(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    for _ in range(9):  # 9 × 25 min = 3 h 45: the session is 15 min from its end
        psc_sandbox.advance(25 * 60)
        tokens = _refresh(psc_sandbox, tokens["refresh_token"]).json()
    assert 890 <= tokens["refresh_expires_in"] <= 900
    psc_sandbox.advance(10 * 60)
    tokens = _refresh(psc_sandbox, tokens["refresh_token"]).json()
    assert 290 <= tokens["refresh_expires_in"] <= 300
    psc_sandbox.advance(6 * 60)
    refused = _refresh(psc_sandbox, tokens["refresh_token"]).json()
    assert refused["error"] == "invalid_grant"


# -- userinfo -------------------------------------------------------------------------------------------------------


def test_userinfo_json_is_psc_shaped_without_the_mss_list(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    response = _userinfo(psc_sandbox, tokens["access_token"])
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    info = response.json()
    claire = next(p for p in default_professionals() if p["SubjectNameID"] == CLAIRE)
    assert info == {k: v for k, v in claire.items() if k != "mss"}
    assert info["sub"] == _verify(psc_sandbox, tokens["id_token"])["sub"]
    reference = json.loads(
        (Path(settings.REFERENCE_DIR) / "psc" / "psc_userinfo_example_PSC-POC.json").read_text(encoding="utf-8")
    )
    assert set(reference) <= set(info)  # every top-level claim of PSC's own example
    activity_keys = set(reference["SubjectRefPro"]["exercices"][0]["activities"][0])
    (exercice,) = info["SubjectRefPro"]["exercices"]
    assert set(reference["SubjectRefPro"]["exercices"][0]) == set(exercice)
    assert all(set(a) == activity_keys for a in exercice["activities"])
    posted = requests.post(
        psc_sandbox.provider.endpoints["userinfo"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        verify=str(psc_sandbox.ca),
        timeout=10,
    )
    assert posted.json() == info


def test_userinfo_as_signed_jwt(psc_sandbox: PscSandbox) -> None:
    psc_sandbox.userinfo_format = "jwt"
    _, tokens = login(psc_sandbox, SOPHIE)
    response = _userinfo(psc_sandbox, tokens["access_token"])
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/jwt"
    assert _header(response.text)["alg"] == "RS256" and _header(response.text)["kid"] == psc_sandbox.keys.kid
    claims = _verify(psc_sandbox, response.text)
    assert claims["iss"] == psc_sandbox.url and claims["aud"] == "caducee"
    assert claims["SubjectNameID"] == SOPHIE and claims["SubjectRole"] == ["60^1.2.250.1.213.1.1.5.5"]
    assert "mss" not in claims
    assert [e["format"] for e in psc_sandbox.events if e["event"] == "userinfo"] == ["jwt"]
    with pytest.raises(ValueError):
        psc_sandbox.userinfo_format = "xml"


def test_userinfo_refuses_bad_and_expired_bearers(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    header, payload, signature = tokens["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["SubjectNameID"] = HUGO
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for bad in ("pas-un-jeton", f"{header}.{forged_payload}.{signature}"):
        response = _userinfo(psc_sandbox, bad)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="esante-wallet", error="invalid_token"')
        assert response.json()["error"] == "invalid_token"
    missing = _get(psc_sandbox, psc_sandbox.provider.endpoints["userinfo"])
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="esante-wallet"'
    psc_sandbox.advance(121)
    expired = _userinfo(psc_sandbox, tokens["access_token"])
    assert expired.status_code == 401 and expired.json()["error_description"] == "jeton expiré"


# -- introspection and logout ---------------------------------------------------------------------------------------


def test_introspection(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    access = _introspect(psc_sandbox, tokens["access_token"]).json()
    claims = _verify(psc_sandbox, tokens["access_token"])
    assert access["active"] is True
    assert {k: access[k] for k in ("exp", "iat", "sub", "SubjectNameID", "scope", "sid", "client_id")} == {
        "exp": claims["exp"],
        "iat": claims["iat"],
        "sub": claims["sub"],
        "SubjectNameID": CLAIRE,
        "scope": "openid scope_all",
        "sid": tokens["session_state"],
        "client_id": "caducee",
    }
    refresh = _introspect(psc_sandbox, tokens["refresh_token"]).json()
    assert refresh["active"] is True and refresh["token_type"] == "Refresh" and "SubjectNameID" not in refresh
    assert _introspect(psc_sandbox, "n'importe quoi").json() == {"active": False}
    unauthorized = _introspect(psc_sandbox, tokens["access_token"], auth=("caducee", "faux"))
    assert unauthorized.status_code == 401 and unauthorized.json()["error"] == "invalid_client"


def test_end_session_redirects_with_state_and_ends_the_session(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    logout = psc_sandbox.provider.endpoints["logout"]
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "http://localhost:8000/psc/deconnexion",
        "state": "etat-42",
    }
    response = _get(psc_sandbox, logout, params=params)
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost:8000/psc/deconnexion?state=etat-42"
    assert _refresh(psc_sandbox, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert _introspect(psc_sandbox, tokens["access_token"]).json() == {"active": False}
    page = _get(psc_sandbox, logout, params={"id_token_hint": tokens["id_token"]})  # no redirect URI: a page
    assert page.status_code == 200 and "déconnecté" in page.text
    assert _outcomes(psc_sandbox, "logout") == ["ok", "already_ended"]


def test_end_session_without_a_valid_hint_or_with_a_foreign_uri_is_an_error_page(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    logout = psc_sandbox.provider.endpoints["logout"]
    for params in (
        {"post_logout_redirect_uri": "http://127.0.0.1:8000/x", "state": "s"},
        {"id_token_hint": "abc.def.ghi", "post_logout_redirect_uri": "http://127.0.0.1:8000/x"},
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://pirate.example/x"},
    ):
        response = _get(psc_sandbox, logout, params=params)
        assert response.status_code == 400 and "Location" not in response.headers
        assert response.headers["Content-Type"].startswith("text/html") and "Erreur Pro Santé Connect" in response.text
    assert _refresh(psc_sandbox, tokens["refresh_token"]).status_code == 200  # the session lives on


# -- the wallet page ------------------------------------------------------------------------------------------------


def test_approval_page_is_french_without_inline_script_or_style(psc_sandbox: PscSandbox) -> None:
    auth = authorize_url(psc_sandbox, login_hint=CLAIRE)
    response = _get(psc_sandbox, auth.url)
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.text
    assert '<html lang="fr">' in page and "Bac à sable" in page
    assert "Identifiant national (RPPS préfixé de 8)" in page
    assert f'name="national_id" value="{CLAIRE}"' in page  # pre-filled from login_hint
    assert "Valider sur mon e-CPS" in page and "Refuser" in page
    assert all(p["SubjectNameID"] in page for p in default_professionals())
    assert "<script" not in page and "<style" not in page and "style=" not in page
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    css = _get(psc_sandbox, psc_sandbox.wallet_url.replace("/auth", "/wallet.css"))
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_refuse_redirects_with_access_denied_and_state(psc_sandbox: PscSandbox) -> None:
    auth = authorize_url(psc_sandbox)
    back = query(psc_sandbox.deny_for_tests(auth.url))
    assert back["error"] == "access_denied" and back["state"] == auth.state and "code" not in back
    assert _outcomes(psc_sandbox, "authorize") == ["page", "access_denied"]


def test_unknown_national_id_shows_the_page_again_with_an_error(psc_sandbox: PscSandbox) -> None:
    auth = authorize_url(psc_sandbox)
    with pytest.raises(ApprovalFailed) as failed:
        psc_sandbox.approve_for_tests(auth.url, "899999999999")
    assert failed.value.status == 400
    assert "Identifiant national inconnu du bac à sable" in failed.value.text
    assert 'name="form_token"' in failed.value.text  # the form again, to try another id
    # The same form can then be approved for a known professional.
    token = re.search(r'name="form_token" value="([^"]+)"', failed.value.text)
    assert token is not None
    approved = requests.post(
        psc_sandbox.wallet_url,
        data={"form_token": token.group(1), "decision": "approve", "national_id": HUGO},
        verify=str(psc_sandbox.ca),
        timeout=10,
        allow_redirects=False,
    )
    assert approved.status_code == 302 and query(approved.headers["Location"])["state"] == auth.state
    again = requests.post(
        psc_sandbox.wallet_url,
        data={"form_token": token.group(1), "decision": "approve", "national_id": HUGO},
        verify=str(psc_sandbox.ca),
        timeout=10,
        allow_redirects=False,
    )
    assert again.status_code == 400 and "Location" not in again.headers  # a form is approved once


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://pirate.example/retour",
        "http://127.0.0.1.pirate.example/retour",
        "http://pirate.example@127.0.0.1:8000/retour",
        "ftp://127.0.0.1/retour",
        "",
    ],
)
def test_bad_redirect_uri_is_an_error_page_never_a_redirect(psc_sandbox: PscSandbox, redirect_uri: str) -> None:
    auth = authorize_url(psc_sandbox, redirect_uri=redirect_uri)
    response = _get(psc_sandbox, auth.url)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Adresse de retour non autorisée" in response.text


def test_unknown_client_is_an_error_page(psc_sandbox: PscSandbox) -> None:
    response = _get(psc_sandbox, authorize_url(psc_sandbox, client_id="autre-logiciel").url)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Application inconnue" in response.text


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"acr_values": "eidas2"}, "acr_values=eidas1 attendu"),  # SC.PSC.08
        ({"acr_values": None}, "acr_values=eidas1 attendu"),
        ({"nonce": None}, "nonce manquant"),
        ({"code_challenge_method": "plain"}, "PKCE : code_challenge_method=S256 attendu"),
        ({"code_challenge": None}, "PKCE : code_challenge manquant ou invalide"),
        ({"scope": "scope_all"}, "scope openid attendu"),
        ({"state": None}, "state manquant"),
    ],
)
def test_invalid_requests_go_back_to_the_client(
    psc_sandbox: PscSandbox, overrides: dict[str, str | None], description: str
) -> None:
    auth = authorize_url(psc_sandbox, **overrides)
    response = _get(psc_sandbox, auth.url)
    assert response.status_code == 302
    back = query(response.headers["Location"])
    expected = {"error": "invalid_request", "error_description": description}
    assert back == ({**expected, "state": auth.state} if auth.state else expected)
    assert psc_sandbox.approve_for_tests(auth.url, CLAIRE) == response.headers["Location"]


def test_down_answers_503_everywhere(psc_sandbox: PscSandbox) -> None:
    _, tokens = login(psc_sandbox)
    psc_sandbox.down = True
    assert _get(psc_sandbox, psc_sandbox.metadata_url).status_code == 503
    assert _get(psc_sandbox, psc_sandbox.provider.endpoints["certs"]).status_code == 503
    assert _get(psc_sandbox, authorize_url(psc_sandbox).url).status_code == 503
    refused = _refresh(psc_sandbox, tokens["refresh_token"])
    assert refused.status_code == 503 and refused.json()["error"] == "temporarily_unavailable"
    assert _userinfo(psc_sandbox, tokens["access_token"]).status_code == 503
    psc_sandbox.down = False
    assert _refresh(psc_sandbox, tokens["refresh_token"]).status_code == 200


# -- the professionals ----------------------------------------------------------------------------------------------


def test_sandbox_professionals_match_the_demo() -> None:
    professionals = {p["SubjectNameID"]: p for p in default_professionals()}
    demo_ids = {("8" + u.rpps) if u.rpps else ("0" + u.adeli) for u in DEMO_USERS if u.rpps or u.adeli}
    assert demo_ids == {CLAIRE, HUGO, SOPHIE} <= set(professionals)
    assert JULIEN in professionals and JULIEN not in demo_ids  # no local account
    claire = professionals[CLAIRE]
    assert (claire["given_name"], claire["family_name"]) == ("Claire", "MARTIN")
    (exercice,) = claire["SubjectRefPro"]["exercices"]
    assert exercice["codeProfession"] == "10" and exercice["codeSavoirFaire"] == "SM54"
    situations = [
        (a["raisonSocialeSite"], a["codeSecteurDactivite"], a["codeModeExercice"]) for a in exercice["activities"]
    ]
    assert situations == [("Cabinet des Tilleuls", "SA07", "L"), ("Centre de santé Jean Moulin", "SA05", "S")]
    assert claire["mss"] == ["claire.martin@demo.mssante.fr"]
    assert len(professionals[HUGO]["SubjectRefPro"]["exercices"][0]["activities"]) == 1
    assert professionals[HUGO]["mss"] == ["hugo.bernard@demo.mssante.fr"]
    assert professionals[SOPHIE]["SubjectRefPro"]["exercices"][0]["codeProfession"] == "60"


def test_add_professional(psc_sandbox: PscSandbox) -> None:
    record = json.loads(json.dumps(next(p for p in default_professionals() if p["SubjectNameID"] == JULIEN)))
    record.update(SubjectNameID="889970099999", preferred_username="889970099999", sub="f:test:889970099999")
    record["mss"] = ["nouveau@test.mssante.fr"]
    psc_sandbox.add_professional(record)
    _, tokens = login(psc_sandbox, "889970099999")
    assert _userinfo(psc_sandbox, tokens["access_token"]).json()["sub"] == "f:test:889970099999"
    assert psc_sandbox.owners_of("Nouveau@test.mssante.fr") == {"889970099999"}
