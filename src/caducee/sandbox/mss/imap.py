"""IMAP4rev1 of the sandbox operator (RFC 3501, STARTTLS, SASL-IR RFC 4959), on Twisted's IMAP4Server.

Rules (SC.MSS/CONF.06/07/09/12): before STARTTLS only CAPABILITY, NOOP, LOGOUT and STARTTLS (LOGINDISABLED;
AUTHENTICATE answers NO [PRIVACYREQUIRED]); then AUTHENTICATE XOAUTH2 or PLAIN, with or without an initial
response; LOGIN always refused (a password is never what authenticates). One folder, INBOX, with a
UIDVALIDITY fixed at its creation and UIDs that only grow (the client syncs by UID, SC.MSS §4): UID
SEARCH/FETCH (RFC822, BODY.PEEK[], FLAGS, RFC822.SIZE, INTERNALDATE…), STORE ±FLAGS, EXPUNGE, NOOP and IDLE
(new messages announced by EXISTS), LOGOUT.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import email.utils
import io
import logging
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any, cast

from twisted.internet import defer, protocol
from twisted.mail import imap4
from zope.interface import implementer

from caducee.sandbox.mss.auth import CHALLENGERS, AuthRefused
from caducee.sandbox.mss.dsn import header_section
from caducee.sandbox.mss.service import message_meta
from caducee.sandbox.mss.store import MssStore, StoredMessage

logger = logging.getLogger("caducee.sandbox.mss")

FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$MDNSent"]
MAX_APPEND_BYTES = 20 * 1024 * 1024


def _names(names: tuple[Any, ...]) -> set[str]:
    return {(n.decode("ascii", "replace") if isinstance(n, bytes) else str(n)).lower() for n in names}


def _headers_of(message: Message, negate: bool, names: tuple[Any, ...]) -> dict[str, str]:
    wanted = _names(names)
    result: dict[str, str] = {}
    for key, value in message.items():
        if (key.lower() in wanted) != negate:
            result.setdefault(key.lower(), str(value))
    return result


@implementer(imap4.IMessagePart)
class _Part:
    """A MIME part of a stored message (BODYSTRUCTURE, BODY[1]…)."""

    def __init__(self, part: Message) -> None:
        self.part = part

    def getHeaders(self, negate: bool, *names: Any) -> dict[str, str]:
        return _headers_of(self.part, negate, names)

    def _body(self) -> bytes:
        if self.part.is_multipart():
            whole = self.part.as_bytes(policy=policy.compat32)
            return whole.split(b"\n\n", 1)[-1]
        payload = self.part.get_payload(decode=False)
        if isinstance(payload, str):
            return payload.encode("utf-8", "surrogateescape")
        return b""

    def getBodyFile(self) -> io.BytesIO:
        return io.BytesIO(self._body())

    def getSize(self) -> int:
        return len(self._body())

    def isMultipart(self) -> bool:
        return bool(self.part.is_multipart())

    def getSubPart(self, part: int) -> _Part:
        payload = self.part.get_payload()
        if not isinstance(payload, list) or not 0 <= part < len(payload):
            raise IndexError(part)
        return _Part(cast(Message, payload[part]))


@implementer(imap4.IMessage, imap4.IMessageFile)
class SandboxMessage:
    """A stored message as Twisted's IMAP server sees it. Its bytes are read from the store when needed and never
    kept: a FETCH of a thousand 20 MB messages holds one at a time (the results list lives until the end)."""

    def __init__(self, store: MssStore, row: StoredMessage) -> None:
        self.store = store
        self.row = row
        self._headers: Message | None = None

    def _raw(self) -> bytes:
        return self.store.raw(self.row.mailbox, self.row.uid)

    def _parsed(self) -> Message:
        return BytesParser(policy=policy.compat32).parsebytes(self._raw())

    def open(self) -> io.BytesIO:
        return io.BytesIO(self._raw())

    def getUID(self) -> int:
        return self.row.uid

    def getFlags(self) -> list[str]:
        return list(self.row.flags)

    def getInternalDate(self) -> str:
        return email.utils.format_datetime(dt.datetime.fromisoformat(self.row.internal_date))

    def getHeaders(self, negate: bool, *names: Any) -> dict[str, str]:
        if self._headers is None:  # small: the header block only
            self._headers = BytesParser(policy=policy.compat32).parsebytes(header_section(self._raw()) + b"\r\n\r\n")
        return _headers_of(self._headers, negate, names)

    def getBodyFile(self) -> io.BytesIO:
        raw = self._raw()
        positions = [(p, len(s)) for s in (b"\r\n\r\n", b"\n\n") if (p := raw.find(s)) >= 0]
        start = sum(min(positions)) if positions else len(raw)
        return io.BytesIO(raw[start:])

    def getSize(self) -> int:
        return self.row.size

    def slice(self, start: int, length: int) -> bytes:
        return self.store.raw_slice(self.row.mailbox, self.row.uid, start, length)

    def isMultipart(self) -> bool:
        return bool(self._parsed().is_multipart())

    def getSubPart(self, part: int) -> _Part:
        return _Part(self._parsed()).getSubPart(part)


@implementer(imap4.IMailbox, imap4.IMailboxInfo)
class SandboxMailbox:
    def __init__(self, factory: ImapFactory, address: str, writeable: bool) -> None:
        self.factory = factory
        self.db: MssStore = factory.service.store
        self.address = address
        self.writeable = writeable
        self.listeners: list[Any] = []
        self.uid_validity = self.db.ensure_mailbox(address).uid_validity

    def rows(self) -> list[StoredMessage]:
        return self.db.messages(self.address)

    def getFlags(self) -> list[str]:
        return list(FLAGS)

    def getHierarchicalDelimiter(self) -> str:
        return "/"

    def getUIDValidity(self) -> int:
        return self.uid_validity

    def getUIDNext(self) -> int:
        info = self.db.mailbox(self.address)
        return info.uid_next if info else 1

    def getUID(self, message: int) -> int:
        rows = self.rows()
        return rows[message - 1].uid

    def getMessageCount(self) -> int:
        return len(self.rows())

    def getRecentCount(self) -> int:
        return 0

    def getUnseenCount(self) -> int:
        return sum(1 for row in self.rows() if "\\Seen" not in row.flags)

    def isWriteable(self) -> bool:
        return self.writeable

    def destroy(self) -> None:
        raise imap4.MailboxException("INBOX cannot be deleted")

    def requestStatus(self, names: Any) -> Any:
        return imap4.statusRequestHelper(self, names)

    def addListener(self, listener: Any) -> None:
        self.listeners.append(listener)
        self.factory.watch(self.address, listener)

    def removeListener(self, listener: Any) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)
        self.factory.unwatch(self.address, listener)

    def addMessage(self, message: Any, flags: Any = (), date: Any = None) -> defer.Deferred[int]:
        raw = message.read(MAX_APPEND_BYTES + 1)
        if len(raw) > MAX_APPEND_BYTES:
            return defer.fail(imap4.MailboxException("Message too big"))
        uid = self.db.append(self.address, message_meta(raw), tuple(str(f) for f in flags))
        return defer.succeed(uid)

    def expunge(self) -> list[int]:
        if not self.writeable:
            raise imap4.ReadOnlyMailbox()
        rows = self.rows()
        doomed = [(i + 1, row.uid) for i, row in enumerate(rows) if "\\Deleted" in row.flags]
        self.db.delete(self.address, [uid for _, uid in doomed])
        for listener in self.listeners:  # the session that expunged counts the messages it still sees
            if isinstance(getattr(listener, "known_count", None), int):
                listener.known_count = max(0, listener.known_count - len(doomed))
        # Each EXPUNGE response shifts the following numbers: highest first keeps them all valid.
        return [seq for seq, _ in reversed(doomed)]

    def _select(self, messages: imap4.MessageSet, uid: bool) -> list[tuple[int, StoredMessage]]:
        rows = self.rows()
        if not rows:
            return []
        try:
            messages.last = rows[-1].uid if uid else len(rows)
        except ValueError:  # already set by the caller
            pass
        return [(i + 1, row) for i, row in enumerate(rows) if (row.uid if uid else i + 1) in messages]

    def fetch(self, messages: imap4.MessageSet, uid: bool) -> list[tuple[int, SandboxMessage]]:
        return [(seq, SandboxMessage(self.db, row)) for seq, row in self._select(messages, uid)]

    def store(self, messages: imap4.MessageSet, flags: Any, mode: int, uid: bool) -> dict[int, list[str]]:
        if not self.writeable:
            raise imap4.ReadOnlyMailbox()
        wanted = {str(f) for f in flags} - {"\\Recent"}
        result: dict[int, list[str]] = {}
        for seq, row in self._select(messages, uid):
            current = set(row.flags)
            new = wanted if mode == 0 else (current | wanted if mode > 0 else current - wanted)
            if new != current:
                self.db.set_flags(self.address, row.uid, tuple(sorted(new)))
            result[seq] = sorted(new)
        return result


@implementer(imap4.IAccount)
class SandboxAccount:
    def __init__(self, factory: ImapFactory, address: str) -> None:
        self.factory = factory
        self.address = address

    def _inbox(self, writeable: bool = True) -> SandboxMailbox:
        return SandboxMailbox(self.factory, self.address, writeable)

    def select(self, name: str, rw: Any = True) -> SandboxMailbox | None:
        return self._inbox(bool(rw)) if str(name).upper() == "INBOX" else None

    def listMailboxes(self, ref: str, wildcard: str) -> list[tuple[str, SandboxMailbox]]:
        pattern = imap4.wildcardToRegexp(str(ref or "") + str(wildcard or ""), "/")
        return [("INBOX", self._inbox(False))] if pattern.match("INBOX") else []

    def addMailbox(self, name: str, mbox: Any = None) -> None:
        raise imap4.MailboxException("Only INBOX exists in this sandbox")

    def create(self, pathspec: str) -> None:
        raise imap4.MailboxException("Only INBOX exists in this sandbox")

    def delete(self, name: str) -> None:
        raise imap4.MailboxException("INBOX cannot be deleted")

    def rename(self, oldname: str, newname: str) -> None:
        raise imap4.MailboxException("INBOX cannot be renamed")

    def isSubscribed(self, name: str) -> bool:
        return str(name).upper() == "INBOX"

    def subscribe(self, name: str) -> bool:
        return True

    def unsubscribe(self, name: str) -> bool:
        return True


class SandboxImap(imap4.IMAP4Server):
    IDENT = b"Caducee MSSante bac a sable IMAP4rev1 ready"
    timeOut = 120
    factory: ImapFactory

    def __init__(self, factory: ImapFactory) -> None:
        super().__init__(chal=dict(CHALLENGERS), contextFactory=factory.tls)
        self.factory = factory
        self.known_count = 0

    def spew_body(self, part: Any, id: Any, msg: Any, _w: Any = None, _f: Any = None) -> Any:
        """RFC 3501 §6.4.5 partial FETCH of the whole message (`BODY[]<start.length>`): Twisted would send the whole
        message; the client's slices (and its bounded memory) need just the slice, read by SQLite."""
        if part.empty and not part.part and part.partialBegin is not None and isinstance(msg, SandboxMessage):
            write = _w if _w is not None else cast(Any, self.transport).write
            write(b"BODY[]<%d> " % part.partialBegin)
            _f()
            data = msg.slice(part.partialBegin, part.partialLength)
            return imap4.FileProducer(io.BytesIO(data)).beginProducing(self.transport)
        return super().spew_body(part, id, msg, _w, _f)

    def connectionMade(self) -> None:
        self.factory.sessions.add(self)
        super().connectionMade()
        with contextlib.suppress(AttributeError, OSError):  # not a TCP transport
            cast(Any, self.transport).setTcpNoDelay(True)  # small replies leave at once (no Nagle delay)

    def connectionLost(self, reason: Any = protocol.connectionDone) -> None:  # type: ignore[override]
        self.factory.sessions.discard(self)
        if self.mbox is not None:
            self.mbox.removeListener(self)
        super().connectionLost(reason)

    def capabilities(self) -> dict[bytes, Any]:
        cap: dict[bytes, Any] = {}
        if not self.startedTLS:
            cap[b"STARTTLS"] = None
        else:
            cap[b"AUTH"] = list(cast(dict[bytes, Any], self.challengers).keys())
            cap[b"SASL-IR"] = None
        cap[b"LOGINDISABLED"] = None
        cap[b"NAMESPACE"] = None
        cap[b"IDLE"] = None
        return cap

    def _client_certificate(self) -> bool:
        try:
            return cast(Any, self.transport).getPeerCertificate() is not None
        except Exception:
            return False

    def do_STARTTLS(self, tag: bytes) -> None:
        if self.startedTLS:
            self.sendNegativeResponse(tag, b"TLS already negotiated")
            return
        self.sendPositiveResponse(tag, b"Begin TLS negotiation now")
        cast(Any, self.transport).startTLS(self.ctx)
        self.startedTLS = True
        self._buffer = b""  # commands pipelined in clear behind STARTTLS are dropped (RFC 3501 §6.2.1)

    unauth_STARTTLS = (do_STARTTLS,)  # type: ignore[assignment]

    def do_LOGIN(self, tag: bytes, user: bytes, passwd: bytes) -> None:
        self.factory.authenticator.refuse(
            protocol="imap",
            mechanism="LOGIN",
            user=user.decode("utf-8", "replace"),
            reason="LOGIN refusé : AUTHENTICATE XOAUTH2 (ou PLAIN avec certificat) attendu",
        )
        self.sendNegativeResponse(tag, b"[PRIVACYREQUIRED] LOGIN disabled, use AUTHENTICATE XOAUTH2")

    unauth_LOGIN = (do_LOGIN, imap4.IMAP4Server.arg_astring, imap4.IMAP4Server.arg_finalastring)  # type: ignore[assignment]

    def do_AUTHENTICATE(self, tag: bytes, line: bytes) -> None:
        parts = (line or b"").split(None, 1)
        mechanism = parts[0].upper() if parts else b""
        if not self.startedTLS:
            self.factory.authenticator.refuse(
                protocol="imap",
                mechanism=mechanism.decode("ascii", "replace")[:20],
                user="",
                reason="STARTTLS obligatoire avant AUTHENTICATE",
            )
            self.sendNegativeResponse(tag, b"[PRIVACYREQUIRED] STARTTLS required before AUTHENTICATE")
            return
        factory = cast(dict[bytes, Any], self.challengers).get(mechanism)
        if factory is None:
            self.factory.authenticator.refuse(
                protocol="imap",
                mechanism=mechanism.decode("ascii", "replace")[:20],
                user="",
                reason="mécanisme non pris en charge",
            )
            self.sendNegativeResponse(tag, b"AUTHENTICATE method unsupported")
            return
        challenger = factory()
        if len(parts) == 2:  # SASL-IR (RFC 4959)
            self._auth_response(parts[1], challenger, tag)
            return
        self.parseState = "pending"
        pending: defer.Deferred[Any] = defer.Deferred()
        pending.addCallback(self._auth_response, challenger, tag)
        pending.addErrback(self._auth_error, tag)
        self._pendingLiteral = cast(Any, pending)
        self.sendLine(b"+ ")

    unauth_AUTHENTICATE = (do_AUTHENTICATE, imap4.IMAP4Server.arg_line)  # type: ignore[assignment]

    def _auth_error(self, failure: Any, tag: bytes) -> None:
        logger.warning("Bac à sable MSS : erreur pendant AUTHENTICATE : %s", failure.getErrorMessage())
        self.sendBadResponse(tag, b"Server error during authentication")

    def _auth_response(self, line: bytes, challenger: Any, tag: bytes) -> None:
        line = line.strip()
        if line == b"*":
            self.sendBadResponse(tag, b"AUTHENTICATE cancelled")
            return
        try:
            decoded = base64.b64decode(line, validate=True) if line != b"=" else b""
        except (binascii.Error, ValueError):
            self.factory.authenticator.refuse(
                protocol="imap", mechanism=challenger.mechanism, user="", reason="réponse SASL non base64"
            )
            self.sendBadResponse(tag, b"Malformed response - not base64")
            return
        challenger.setResponse(decoded)
        try:
            mailbox = self.factory.authenticator.check(
                protocol="imap", challenger=challenger, client_certificate=self._client_certificate()
            )
        except AuthRefused:
            self.sendNegativeResponse(tag, b"[AUTHENTICATIONFAILED] Authentication failed")
            return
        self.account = SandboxAccount(self.factory, mailbox)
        self.state = "auth"
        self.sendPositiveResponse(tag, b"Authentication successful")
        self.setTimeout(self.POSTAUTH_TIMEOUT)

    # New messages: the service tells the factory, which calls this in the reactor thread.
    def newMessages(self, exists: int | None, recent: int | None) -> None:
        super().newMessages(exists, recent)

    def _cbSelectWork(self, mbox: Any, cmdName: bytes, tag: bytes) -> None:
        """SELECT/EXAMINE with every response RFC 3501 §6.3.1 requires (Twisted omits UIDNEXT, PERMANENTFLAGS)."""
        if mbox is None:
            self.sendNegativeResponse(tag, b"No such mailbox")
            return
        count = mbox.getMessageCount()
        self.known_count = count
        self.sendUntaggedResponse(b"%d EXISTS" % count)
        self.sendUntaggedResponse(b"%d RECENT" % mbox.getRecentCount())
        flags = " ".join(mbox.getFlags()).encode("ascii")
        self.sendUntaggedResponse(b"FLAGS (" + flags + b")")
        self.sendPositiveResponse(None, b"[PERMANENTFLAGS (" + flags + b")] Flags permitted")
        self.sendPositiveResponse(None, b"[UIDVALIDITY %d] UIDs valid" % mbox.getUIDValidity())
        self.sendPositiveResponse(None, b"[UIDNEXT %d] Predicted next UID" % mbox.getUIDNext())
        mbox.addListener(self)
        mode = b"READ-WRITE" if mbox.isWriteable() else b"READ-ONLY"
        self.sendPositiveResponse(tag, b"[" + mode + b"] " + cmdName + b" successful")
        self.state = "select"
        self.mbox = mbox

    def check_new(self) -> None:
        if self.mbox is None:
            return
        count = self.mbox.getMessageCount()
        grew = count > self.known_count
        self.known_count = count  # also after an EXPUNGE, so the next arrival is announced
        if grew:
            self.newMessages(count, None)

    def do_NOOP(self, tag: bytes) -> None:
        self.check_new()
        self.sendPositiveResponse(tag, b"NOOP completed")

    unauth_NOOP = (do_NOOP,)  # type: ignore[assignment]
    auth_NOOP = unauth_NOOP  # type: ignore[assignment]
    select_NOOP = unauth_NOOP  # type: ignore[assignment]
    logout_NOOP = unauth_NOOP  # type: ignore[assignment]


class ImapFactory(protocol.ServerFactory):
    noisy = False  # no "Starting factory" log lines

    def __init__(self, *, tls: Any, service: Any, authenticator: Any) -> None:
        self.tls = tls
        self.service = service
        self.authenticator = authenticator
        self.sessions: set[SandboxImap] = set()
        self.watchers: dict[str, list[Any]] = {}

    def buildProtocol(self, addr: Any) -> Any:
        return SandboxImap(self)

    def watch(self, address: str, listener: Any) -> None:
        self.watchers.setdefault(address, []).append(listener)

    def unwatch(self, address: str, listener: Any) -> None:
        if listener in self.watchers.get(address, []):
            self.watchers[address].remove(listener)

    def delivered(self, address: str) -> None:
        """In the reactor thread: sessions with `address` selected learn of the new message (EXISTS)."""
        for listener in list(self.watchers.get(address, [])):
            check = getattr(listener, "check_new", None)
            if check is not None:
                try:
                    check()
                except Exception:
                    logger.debug("Bac à sable MSS : notification IMAP perdue.", exc_info=True)
