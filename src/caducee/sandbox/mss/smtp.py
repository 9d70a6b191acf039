"""SMTP submission of the sandbox operator (RFC 5321 + STARTTLS RFC 3207, AUTH RFC 4954, SIZE RFC 1870,
DSN RFC 3461), on Twisted's ESMTP protocol.

Rules (SC.MSS/CONF.05/07/12): nothing but EHLO/HELO, NOOP, RSET, QUIT and STARTTLS before TLS (AUTH and MAIL
answer 530 5.7.0); AUTH XOAUTH2 or PLAIN (see auth.py) after it; MAIL only once authenticated and only from the
authenticated mailbox (or the null reverse-path for reports); RCPT only in an MSSanté domain (550 5.7.1
otherwise, the trust space); messages over MAX_MESSAGE_BYTES refused (SIZE= at MAIL, or 552 5.3.4 at the end of
DATA). Each recipient's fate (delivered, `inconnu.*`, `lent.*`) is decided by service.MssService.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet import protocol
from twisted.mail import smtp

from caducee.sandbox.mss import addresses
from caducee.sandbox.mss.auth import CHALLENGERS, AuthRefused
from caducee.sandbox.mss.service import Envelope, EnvelopeRecipient

logger = logging.getLogger("caducee.sandbox.mss")

MAX_MESSAGE_BYTES = 20 * 1024 * 1024
HOSTNAME = b"sandbox.mssante.fr"
_XTEXT = re.compile(rb"\+([0-9A-Fa-f]{2})")


def _xtext(value: bytes) -> str:
    """RFC 3461 xtext decoding (ENVID, ORCPT)."""
    return _XTEXT.sub(lambda m: bytes([int(m.group(1), 16)]), value).decode("utf-8", "replace")[:500]


def _params(opts: bytes | None) -> dict[str, bytes]:
    params: dict[str, bytes] = {}
    for item in (opts or b"").split():
        key, _, value = item.partition(b"=")
        params[key.decode("ascii", "replace").upper()] = value
    return params


@dataclass
class _Transaction:
    sender: str
    envelope_id: str = ""
    recipients: list[EnvelopeRecipient] = field(default_factory=list)


_FASTDATA = "FASTDATA"  # our DATA state (Twisted's own is line by line through one IMessage per recipient)


class SandboxSmtp(smtp.ESMTP):
    timeout = 300
    noisy = False
    MAX_LENGTH = 1 << 20  # bytes per line; longer is a broken client, the session is closed
    factory: SmtpFactory

    def __init__(self, factory: SmtpFactory) -> None:
        super().__init__(chal=dict(CHALLENGERS), contextFactory=factory.tls)
        self.factory = factory
        self.host = HOSTNAME
        self.mailbox = ""
        self._mail_params: dict[str, bytes] = {}
        self._rcpt_params: dict[str, bytes] = {}
        self._transaction: _Transaction | None = None
        self._data = bytearray()
        self._data_start = True
        self._data_scanned = 0
        self._data_too_big = False
        self._drop_plaintext = False

    # -- connection ---------------------------------------------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        self.factory.sessions.add(self)
        with contextlib.suppress(AttributeError, OSError):  # not a TCP transport
            cast(Any, self.transport).setTcpNoDelay(True)  # small replies leave at once (no Nagle delay)

    def connectionLost(self, reason: Any = protocol.connectionDone) -> None:  # type: ignore[override]
        self.factory.sessions.discard(self)
        super().connectionLost(reason)

    # -- DATA, read as a byte stream --------------------------------------------------------------------------
    # One Python call per line made a 20 MB message cost seconds; the message is instead accumulated as received,
    # the end found with one search per chunk, and the dots unstuffed in one pass (RFC 5321 §4.5.2).

    def do_DATA(self, rest: bytes) -> None:
        if self._from is None or not self._to or self._transaction is None:
            self.sendCode(503, b"5.5.1 Must have valid receiver and originator")
            return
        self._from = None
        self._to = []
        self._data = bytearray()
        self._data_start = True
        self._data_scanned = 0
        self._data_too_big = False
        self.mode = _FASTDATA
        self.sendCode(354, b"Start mail input; end with <CRLF>.<CRLF>")

    def dataReceived(self, data: bytes) -> None:
        if self.mode != _FASTDATA:
            try:
                super().dataReceived(data)
            finally:
                self._drop_plaintext = False
            return
        self.resetTimeout()
        pending, self._buffer = self._buffer, b""  # a partial line left by line mode when DATA began
        self._feed(pending + data if pending else data)

    def lineReceived(self, line: bytes) -> Any:
        if self._drop_plaintext:
            return None  # sent in clear after STARTTLS, in the same packet: never run inside TLS
        if self.mode == _FASTDATA:  # lines pipelined after DATA in the same packet
            self._feed(line + b"\r\n")
            return None
        return super().lineReceived(line)

    def _feed(self, chunk: bytes) -> None:
        data = self._data
        data += chunk
        if self._data_start and len(data) >= 3:
            self._data_start = False
            if data[:3] == b".\r\n":  # an empty message
                self._end_of_data(b"", bytes(data[3:]))
                return
        if self._data_start:
            return
        found = data.find(b"\r\n.\r\n", max(0, self._data_scanned - 4))
        if found < 0:
            self._data_scanned = len(data)
            if len(data) > MAX_MESSAGE_BYTES + 2:
                self._data_too_big = True
                del data[:-4]  # keep reading (and dropping) until the end of the message
                self._data_scanned = len(data)
            return
        self._end_of_data(bytes(data[: found + 2]), bytes(data[found + 5 :]))

    def _end_of_data(self, body: bytes, leftover: bytes) -> None:
        self._data = bytearray()
        self.mode = smtp.COMMAND
        transaction, self._transaction = self._transaction, None
        if self._data_too_big or len(body) > MAX_MESSAGE_BYTES:
            self.sendCode(552, b"5.3.4 Message too big (max 20 MB)")
        elif transaction is not None:
            body = body.replace(b"\r\n.", b"\r\n")
            if body.startswith(b"."):
                body = body[1:]
            envelope = Envelope(
                sender=transaction.sender,
                recipients=list(transaction.recipients),
                envelope_id=transaction.envelope_id,
                helo=self.helo_name(),
                peer=self.peer_host(),
            )
            try:
                self.factory.service.submit(envelope, body)
            except Exception:  # the sandbox's own bug: a transient error for the client, the traceback in the log
                logger.exception("Bac à sable MSS : remise impossible")
                self.sendCode(451, b"4.3.0 Local error in processing")
            else:
                self.sendCode(250, b"2.0.0 Message accepted for delivery")
        if leftover:
            self.dataReceived(leftover)  # pipelined commands (RSET, QUIT…)

    def greeting(self) -> bytes:
        return HOSTNAME + b" ESMTP Caducee MSSante bac a sable"

    def lineLengthExceeded(self, line: bytes) -> None:
        self.sendCode(500, b"5.5.2 Line too long")
        cast(Any, self.transport).loseConnection()

    def helo_name(self) -> str:
        return (self._helo[0] or b"").decode("ascii", "replace") if self._helo and self._helo[0] else ""

    def peer_host(self) -> str:
        return str(getattr(cast(Any, self.transport).getPeer(), "host", ""))

    def _client_certificate(self) -> bool:
        try:
            return cast(Any, self.transport).getPeerCertificate() is not None
        except Exception:
            return False

    def extensions(self) -> dict[bytes, list[bytes] | None]:
        ext: dict[bytes, list[bytes] | None] = {}
        if not self.startedTLS:
            ext[b"STARTTLS"] = None
        else:
            ext[b"AUTH"] = list(self.challengers.keys())
        ext[b"SIZE"] = [str(MAX_MESSAGE_BYTES).encode()]
        ext[b"8BITMIME"] = None
        ext[b"DSN"] = None
        return ext

    def ext_STARTTLS(self, rest: bytes) -> None:
        started = self.startedTLS
        super().ext_STARTTLS(rest)
        if self.startedTLS and not started:
            # Commands pipelined in clear behind STARTTLS are dropped, not run as if protected (RFC 3207 §4.2).
            self._buffer = b""
            self._drop_plaintext = True

    # -- AUTH ---------------------------------------------------------------------------------------------

    def ext_AUTH(self, rest: bytes) -> None:
        mechanism = (rest.split(None, 1) or [b""])[0].decode("ascii", "replace").upper()[:20]
        if not self.startedTLS:
            self.factory.authenticator.refuse(
                protocol="smtp", mechanism=mechanism, user="", reason="STARTTLS obligatoire avant AUTH"
            )
            self.sendCode(530, b"5.7.0 Must issue a STARTTLS command first")
            return
        if not rest.strip():
            self.sendCode(501, b"5.5.4 Mechanism required")
            return
        if not self.authenticated and mechanism.encode() not in self.challengers:
            self.factory.authenticator.refuse(
                protocol="smtp", mechanism=mechanism, user="", reason="mécanisme non pris en charge"
            )
        super().ext_AUTH(rest)

    def state_AUTH(self, response: bytes | None) -> None:
        challenger: Any = self.challenger
        if response is None:
            self.sendCode(334, base64.b64encode(challenger.getChallenge()))
            return
        self.mode = smtp.COMMAND
        self.challenger = None
        if response.strip() == b"*":
            self.sendCode(501, b"5.0.0 Authentication aborted")
            return
        try:
            decoded = base64.b64decode(response.strip(), validate=True) if response.strip() != b"=" else b""
        except (binascii.Error, ValueError):
            self.factory.authenticator.refuse(
                protocol="smtp", mechanism=challenger.mechanism, user="", reason="réponse SASL non base64"
            )
            self.sendCode(501, b"5.5.2 Cannot decode response")
            return
        challenger.setResponse(decoded)
        try:
            mailbox = self.factory.authenticator.check(
                protocol="smtp", challenger=challenger, client_certificate=self._client_certificate()
            )
        except AuthRefused:
            self.sendCode(535, b"5.7.8 Authentication credentials invalid")
            return
        self.authenticated = True
        self.mailbox = mailbox
        self.sendCode(235, b"2.7.0 Authentication successful")

    # -- envelope -----------------------------------------------------------------------------------------

    def do_MAIL(self, rest: bytes) -> None:
        if not self.startedTLS:
            self.sendCode(530, b"5.7.0 Must issue a STARTTLS command first")
            return
        if not self.authenticated:
            self.sendCode(530, b"5.7.0 Authentication required")
            return
        fault = self.factory.next_fault()
        if fault is not None:
            self.sendCode(fault[0], fault[1].encode("ascii", "replace"))
            return
        match = self.mail_re.match(rest)
        self._mail_params = _params(match.group("opts") if match else None)
        size = self._mail_params.get("SIZE", b"")
        if size.isdigit() and int(size) > MAX_MESSAGE_BYTES:
            self.sendCode(552, b"5.3.4 Message size exceeds fixed maximum message size (20 MB)")
            return
        super().do_MAIL(rest)

    def do_RCPT(self, rest: bytes) -> None:
        match = self.rcpt_re.match(rest)
        self._rcpt_params = _params(match.group("opts") if match else None)
        super().do_RCPT(rest)

    def do_NOOP(self, rest: bytes) -> None:
        self.sendCode(250, b"2.0.0 OK")

    def do_RSET(self, rest: bytes) -> None:
        self._transaction = None
        super().do_RSET(rest)

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        sender = addresses.normalize(str(origin))
        if sender and sender != self.mailbox:
            raise smtp.SMTPBadSender(origin, 553, "5.7.1 Sender must be the authenticated mailbox")
        self._transaction = _Transaction(sender=sender, envelope_id=_xtext(self._mail_params.get("ENVID", b"")))
        return origin

    def validateTo(self, user: smtp.User) -> Any:
        address = addresses.normalize(str(user.dest))
        transaction = self._transaction
        if transaction is None:
            raise smtp.SMTPBadRcpt(user, 503, "5.5.1 MAIL first")
        if not addresses.in_trust_space(address):
            raise smtp.SMTPBadRcpt(user, 550, "5.7.1 Relay denied: recipient outside the MSSante trust space")
        notify = self._rcpt_params.get("NOTIFY", b"").decode("ascii", "replace").upper()
        orcpt = _xtext(self._rcpt_params.get("ORCPT", b""))
        transaction.recipients.append(EnvelopeRecipient(address, frozenset(n for n in notify.split(",") if n), orcpt))
        return lambda: None  # Twisted keeps it; our DATA state delivers through the service instead


class SmtpFactory(protocol.ServerFactory):
    noisy = False  # no "Starting factory" log lines

    def __init__(self, *, tls: Any, service: Any, authenticator: Any) -> None:
        self.tls = tls
        self.service = service
        self.authenticator = authenticator
        self.sessions: set[SandboxSmtp] = set()
        self.faults: collections.deque[tuple[int, str]] = collections.deque()
        self.faults_lock = threading.Lock()

    def next_fault(self) -> tuple[int, str] | None:
        with self.faults_lock:
            return self.faults.popleft() if self.faults else None

    def buildProtocol(self, addr: Any) -> Any:
        return SandboxSmtp(self)
