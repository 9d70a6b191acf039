"""SASL for the operator: XOAUTH2 checked against the sandbox's tokens, PLAIN bound to a client certificate.

Both are Twisted `IChallengeResponse` challengers (what ESMTP and IMAP4Server take for AUTH/AUTHENTICATE);
`Authenticator.check` decides and writes the attempt to the auth log (protocol, mechanism, user, ok, reason),
never the token.
- XOAUTH2 (SC.MSS/CONF.07): `user=<mailbox>^Aauth=Bearer <JWT>^A^A`; the JWT is either the operator's own
  (valid, its `mailbox` claim the `user`) or a Pro Santé Connect access token (PscTokenVerifier: PSC's JWKS,
  issuer, expiry) whose `SubjectNameID` holds the mailbox: the PSC professional records' `mss` lists
  (`owners_lookup`) plus the owners assigned on the operator (`assign_owner`). The auth log says which kind of
  token was used (`token_issuer` "psc" | "operateur") and, for PSC, whose (`subject` = SubjectNameID).
- PLAIN (CONF.12): an application (APP) mailbox only, over a TLS session whose client certificate chains to
  the sandbox CA (the TLS layer already verified the chain); the login is the mailbox address, the password
  is not what authenticates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from twisted.mail.interfaces import IChallengeResponse
from zope.interface import implementer

from caducee.sandbox.mss import addresses
from caducee.sandbox.mss.store import MssStore
from caducee.sandbox.mss.tokens import PscTokenVerifier, TokenIssuer, TokenRejected

# What the auth log's `token_issuer` says of an XOAUTH2 token.
ISSUER_PSC = "psc"
ISSUER_OPERATOR = "operateur"


class AuthRefused(Exception):
    def __init__(self, reason: str, *, token_issuer: str = "", subject: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_issuer = token_issuer
        self.subject = subject


@implementer(IChallengeResponse)
class XOAuth2Challenger:
    mechanism = "XOAUTH2"

    def __init__(self) -> None:
        self.user = ""
        self.token = ""
        self.malformed = ""

    def getChallenge(self) -> bytes:
        return b""

    def setResponse(self, response: bytes) -> None:
        try:
            text = response.decode("utf-8")
        except UnicodeDecodeError:
            self.malformed = "réponse XOAUTH2 non UTF-8"
            return
        for item in text.split("\x01"):
            key, _, value = item.partition("=")
            if key == "user":
                self.user = value.strip()
            elif key == "auth":
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer":
                    self.token = token.strip()
        if not self.user or not self.token:
            self.malformed = "réponse XOAUTH2 incomplète (user= et auth=Bearer attendus)"

    def moreChallenges(self) -> bool:
        return False


@implementer(IChallengeResponse)
class PlainChallenger:
    mechanism = "PLAIN"

    def __init__(self) -> None:
        self.user = ""
        self.malformed = ""

    def getChallenge(self) -> bytes:
        return b""

    def setResponse(self, response: bytes) -> None:
        parts = response.split(b"\0")
        if len(parts) != 3:
            self.malformed = "réponse PLAIN mal formée"
            return
        authzid, authcid = parts[0], parts[1]
        try:
            self.user = (authcid or authzid).decode("utf-8").strip()
        except UnicodeDecodeError:
            self.malformed = "réponse PLAIN non UTF-8"
        if authzid and authcid and authzid != authcid:
            self.malformed = "identité d'autorisation différente du compte"

    def moreChallenges(self) -> bool:
        return False


CHALLENGERS = {b"XOAUTH2": XOAuth2Challenger, b"PLAIN": PlainChallenger}


class Authenticator:
    def __init__(
        self,
        store: MssStore,
        issuer: TokenIssuer,
        *,
        psc: PscTokenVerifier | None = None,
        owners_lookup: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.psc = psc
        self.owners_lookup = owners_lookup
        self._owners: dict[str, set[str]] = {}
        self._owners_lock = threading.Lock()

    def assign_owner(self, address: str, national_id: str) -> None:
        """`national_id` (a PSC SubjectNameID) may open `address` with a PSC access token."""
        with self._owners_lock:
            self._owners.setdefault(addresses.normalize(address), set()).add(national_id.strip())

    def owners(self, address: str) -> set[str]:
        address = addresses.normalize(address)
        with self._owners_lock:
            found = set(self._owners.get(address, ()))
        if self.owners_lookup is not None:
            found |= {str(nid) for nid in self.owners_lookup(address)}
        return found

    def refuse(self, *, protocol: str, mechanism: str, user: str, reason: str) -> AuthRefused:
        """Log a refused attempt (e.g. before STARTTLS) and return the exception to raise."""
        self.store.log_auth(protocol=protocol, mechanism=mechanism, user=user[:200], ok=False, reason=reason)
        return AuthRefused(reason)

    def _check_token(self, token: str, user: str) -> tuple[str, str]:
        """(token_issuer, subject) of a token good for `user`; AuthRefused otherwise."""
        if self.psc is not None and self.psc.handles(token):
            try:
                claims = self.psc.verify(token)
            except TokenRejected as exc:
                raise AuthRefused(exc.reason, token_issuer=ISSUER_PSC) from exc
            subject = str(claims["SubjectNameID"])
            owners = self.owners(user)
            if subject not in owners:
                reason = (
                    f"jeton PSC de {subject} : boîte aux lettres d'un autre professionnel"
                    if owners
                    else f"jeton PSC de {subject} : aucun titulaire PSC connu pour cette boîte aux lettres"
                )
                raise AuthRefused(reason, token_issuer=ISSUER_PSC, subject=subject)
            return ISSUER_PSC, subject
        try:
            self.issuer.verify(token, mailbox=user)
        except TokenRejected as exc:
            raise AuthRefused(exc.reason, token_issuer=ISSUER_OPERATOR) from exc
        return ISSUER_OPERATOR, ""

    def check(self, *, protocol: str, challenger: object, client_certificate: bool) -> str:
        """The authenticated mailbox; AuthRefused (logged) otherwise."""
        mechanism = str(getattr(challenger, "mechanism", "?"))
        user = addresses.normalize(str(getattr(challenger, "user", "")))[:200]
        token_issuer = subject = ""
        try:
            if getattr(challenger, "malformed", ""):
                raise AuthRefused(str(getattr(challenger, "malformed", "")))
            if not addresses.in_trust_space(user) or addresses.unknown_reason(user):
                raise AuthRefused("boîte aux lettres inconnue")
            if addresses.is_patient(user):
                raise AuthRefused("une boîte patient ne se connecte pas en SMTP/IMAP (Mon espace santé)")
            if isinstance(challenger, XOAuth2Challenger):
                token_issuer, subject = self._check_token(challenger.token, user)
            elif isinstance(challenger, PlainChallenger):
                if not client_certificate:
                    raise AuthRefused(
                        "PLAIN réservé aux BAL applicatives avec certificat client de l'AC du bac à sable"
                    )
            else:
                raise AuthRefused("mécanisme non pris en charge")
        except AuthRefused as exc:
            self.store.log_auth(
                protocol=protocol,
                mechanism=mechanism,
                user=user,
                ok=False,
                reason=exc.reason,
                token_issuer=exc.token_issuer,
                subject=exc.subject,
            )
            raise
        self.store.ensure_mailbox(user)
        self.store.log_auth(
            protocol=protocol, mechanism=mechanism, user=user, ok=True, token_issuer=token_issuer, subject=subject
        )
        return user
