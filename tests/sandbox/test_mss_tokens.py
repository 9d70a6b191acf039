"""The sandbox MSS operator's tokens (sandbox/mss/tokens.py, joserfc RS256) and the issuers' signing keys
(sandbox/signing.py), without sockets: what XOAUTH2 accepts and refuses (SC.MSS/CONF.07)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws, jwt
from joserfc.jwk import OctKey

from caducee.sandbox.mss.tokens import TokenIssuer, TokenRejected, sign_jwt, unverified_claims
from caducee.sandbox.signing import jose_key, load_or_create_key

BOX = "claire.durand@hopital.mssante.fr"
NOW = 1_900_000_000


@pytest.fixture
def issuer(tmp_path: Path) -> TokenIssuer:
    return TokenIssuer(tmp_path / "mss-token-key.pem", issuer="https://operateur.test")


def _reason(issuer: TokenIssuer, token: str, *, mailbox: str = BOX, now: float = NOW) -> str:
    with pytest.raises(TokenRejected) as refused:
        issuer.verify(token, mailbox=mailbox, now=now)
    return refused.value.reason


def test_a_token_verifies_for_its_mailbox_within_its_lifetime(issuer: TokenIssuer) -> None:
    token = issuer.issue(BOX.upper(), now=NOW)
    claims = issuer.verify(token, mailbox=BOX, now=NOW + 119)
    assert claims["mailbox"] == claims["sub"] == BOX and claims["exp"] == NOW + 120
    assert jws.extract_compact(token.encode()).headers() == {"alg": "RS256", "typ": "JWT", "kid": issuer.kid}
    assert unverified_claims(token)["iss"] == "https://operateur.test"
    assert _reason(issuer, token, mailbox="autre@hopital.mssante.fr") == (
        "le jeton n'est pas celui de cette boîte aux lettres"
    )


def test_time_claims_with_five_seconds_of_skew(issuer: TokenIssuer) -> None:
    token = issuer.issue(BOX, now=NOW)
    assert issuer.verify(token, mailbox=BOX, now=NOW + 120 + 4)
    assert _reason(issuer, token, now=NOW + 120 + 6) == "jeton expiré"
    assert _reason(issuer, token, now=NOW - 6) == "jeton émis dans le futur"
    no_exp = sign_jwt({"mailbox": BOX, "iat": NOW}, issuer.key, kid=issuer.kid)
    assert _reason(issuer, no_exp) == "jeton expiré"
    text_exp = sign_jwt({"mailbox": BOX, "exp": "demain"}, issuer.key)
    assert _reason(issuer, text_exp) == "jeton expiré"


def test_forged_tampered_and_foreign_algorithms_are_refused(issuer: TokenIssuer) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"mailbox": BOX, "iat": NOW, "exp": NOW + 60}
    assert _reason(issuer, sign_jwt(claims, other, kid=issuer.kid)) == "signature du jeton invalide"
    header, payload, signature = issuer.issue(BOX, now=NOW).split(".")
    longer = sign_jwt({**claims, "exp": NOW + 3600}, other).split(".")[1]
    assert _reason(issuer, f"{header}.{longer}.{signature}") == "signature du jeton invalide"
    hs256 = jwt.encode({"alg": "HS256"}, claims, OctKey.generate_key(256), algorithms=["HS256"])
    unsigned = f"eyJhbGciOiJub25lIn0.{payload}."  # {"alg":"none"}
    for token in (hs256, unsigned):
        assert _reason(issuer, token) == "algorithme de signature refusé (RS256 attendu)"
    assert _reason(issuer, "pas-un-jeton") == "jeton mal formé (JWS compact attendu)"
    assert _reason(issuer, "e30.e30.e30") == "jeton illisible"  # {} as header: no alg at all
    assert _reason(issuer, "!!.e30.e30") == "jeton illisible"
    assert _reason(issuer, "") == "jeton absent ou trop long"
    assert unverified_claims("pas-un-jeton") == {} and unverified_claims("!!.!!.!!") == {}


def test_the_key_is_created_0600_once_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "mss-token-key.pem"
    first = TokenIssuer(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = first.issue(BOX, now=time.time())
    again = TokenIssuer(path)
    assert again.kid == first.kid == jose_key(load_or_create_key(path)).thumbprint()
    assert again.verify(token, mailbox=BOX)["mailbox"] == BOX
