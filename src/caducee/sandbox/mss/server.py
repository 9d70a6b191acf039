"""Start and stop the MSS sandbox operator: SMTP + IMAP listeners on Twisted, the HTTPS side in a thread.

One Twisted reactor per process, run once in a daemon thread (`reactor.run(installSignalHandlers=False)`);
each operator opens its listeners from the caller's thread through `blockingCallFromThread`, so tests and
`caducee demo` start and stop as many operators as they like. The operator's state lives in its SQLite file
(`database`) and its token signing key next to it (`mss-token-key.pem`, 0600).
Given a `psc_verifier` (the runner passes the PSC sandbox's), XOAUTH2 also takes Pro Santé Connect access tokens;
the mailboxes a PSC professional holds come from `owners_lookup` (the PSC records' `mss` lists) and `assign_owner`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from caducee.sandbox.mss.auth import Authenticator
from caducee.sandbox.mss.imap import ImapFactory
from caducee.sandbox.mss.service import MssService
from caducee.sandbox.mss.smtp import SmtpFactory
from caducee.sandbox.mss.store import MssStore
from caducee.sandbox.mss.tokens import TOKEN_LIFETIME, PscTokenVerifier, TokenIssuer
from caducee.sandbox.mss.web import MssWebServer, web_ssl_context

logger = logging.getLogger("caducee.sandbox.mss")

TOKEN_KEY_FILE = "mss-token-key.pem"  # noqa: S105 - a file name, not a secret
_reactor_lock = threading.Lock()
_reactor_thread: threading.Thread | None = None


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def ensure_reactor() -> Any:
    """The process's reactor, running in its daemon thread (started on first call)."""
    global _reactor_thread
    reactor = _reactor()
    with _reactor_lock:
        if _reactor_thread is None or not _reactor_thread.is_alive():
            if reactor.running:  # someone else runs it (e.g. a Twisted application): use it
                return reactor
            _log_to_python()
            _reactor_thread = threading.Thread(
                target=reactor.run, kwargs={"installSignalHandlers": False}, name="caducee-sandbox-reactor", daemon=True
            )
            _reactor_thread.start()
    from twisted.internet.threads import blockingCallFromThread

    blockingCallFromThread(reactor, lambda: None)  # returns once the reactor turns
    return reactor


def _log_to_python() -> None:
    """Twisted's own log (connection errors, tracebacks) goes to Python logging, not to stderr."""
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        STDLibLogObserver,
        globalLogBeginner,
        globalLogPublisher,
    )

    if getattr(_log_to_python, "done", False):
        return
    _log_to_python.done = True  # type: ignore[attr-defined]
    # Warnings and errors only: "Starting factory", "Port closed"… are noise (and arrive at interpreter exit).
    observer = cast(
        Any,
        FilteringLogObserver(
            cast(Any, STDLibLogObserver(name="caducee.sandbox.twisted")),
            [cast(Any, LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn))],
        ),
    )
    if globalLogBeginner._temporaryObserver is not None:  # nobody began Twisted logging in this process yet
        globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False, discardBuffer=True)
    else:
        globalLogPublisher.addObserver(observer)


def tls_options(*, ca: Path, cert: Path, key: Path) -> Any:
    """STARTTLS context: the sandbox server certificate, TLS ≥ 1.2 (SC.MSS/CONF.01), a client certificate
    asked for (APP mailboxes, CONF.12) and verified against the sandbox CA when given."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from OpenSSL.crypto import X509
    from twisted.internet import ssl as tssl

    # cryptography objects, not pyOpenSSL's X509/PKey (deprecated by pyOpenSSL).
    return tssl.CertificateOptions(
        privateKey=cast(Any, serialization.load_pem_private_key(key.read_bytes(), password=None)),
        certificate=cast(Any, x509.load_pem_x509_certificate(cert.read_bytes())),
        verify=True,
        caCerts=[X509.from_cryptography(x509.load_pem_x509_certificate(ca.read_bytes()))],  # the store wants X509
        requireCertificate=False,
        raiseMinimumTo=tssl.TLSVersion.TLSv1_2,
    )


@dataclass
class MssSandbox:
    host: str
    smtp_port: int
    imap_port: int
    web_url: str
    service: MssService
    issuer: TokenIssuer
    authenticator: Authenticator | None = field(default=None, repr=False)
    _ports: list[Any] = field(default_factory=list, repr=False)
    _factories: list[Any] = field(default_factory=list, repr=False)
    _web: MssWebServer | None = field(default=None, repr=False)
    _web_thread: threading.Thread | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def token_url(self) -> str:
        return self.web_url + "/token"

    @property
    def patient_url(self) -> str:
        return self.web_url + "/patient/"

    @property
    def store(self) -> MssStore:
        return self.service.store

    def auth_log(self) -> list[dict[str, Any]]:
        """Every AUTH/AUTHENTICATE attempt: protocol, mechanism, user, ok (and reason, at); never the token."""
        return self.store.auth_log()

    def issue_token(self, mailbox: str, *, lifetime: int = TOKEN_LIFETIME, now: float | None = None) -> str:
        """A token as the token endpoint would give (tests: expired ones with a negative lifetime)."""
        return self.issuer.issue(mailbox, lifetime=lifetime, now=now)

    def assign_owner(self, address: str, national_id: str) -> None:
        """Let the PSC professional `national_id` (SubjectNameID) open `address` with a PSC access token (tests;
        the PSC sandbox's records already give their `mss` addresses)."""
        assert self.authenticator is not None
        self.authenticator.assign_owner(address, national_id)

    def messages(self, mailbox: str) -> list[Any]:
        return self.store.messages(mailbox)

    def raw(self, mailbox: str, uid: int) -> bytes:
        return self.store.raw(mailbox, uid)

    def disconnect_all(self) -> int:
        """Close every SMTP and IMAP session from the server side (the client must reconnect, SC.MSS/CONF.11);
        returns how many were closed."""
        from twisted.internet.threads import blockingCallFromThread

        def close() -> int:
            sessions = [session for factory in self._factories for session in list(factory.sessions)]
            for session in sessions:
                session.transport.abortConnection()
            return len(sessions)

        return int(blockingCallFromThread(_reactor(), close))

    def fail_next(
        self, n: int = 1, *, code: int = 451, text: str = "4.3.0 Service temporairement indisponible"
    ) -> None:
        """The next `n` SMTP transactions are refused at MAIL FROM with this reply (451 transient, 5xx permanent)."""
        smtp_factory = self._factories[0]
        with smtp_factory.faults_lock:
            smtp_factory.faults.extend([(code, text)] * n)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        from twisted.internet.threads import blockingCallFromThread

        reactor = _reactor()
        self.service.stop()

        def close() -> Any:
            from twisted.internet import defer

            for factory in self._factories:
                for session in list(factory.sessions):
                    session.transport.abortConnection()
            return defer.gatherResults([port.stopListening() for port in self._ports])

        if reactor.running:
            blockingCallFromThread(reactor, close)
        if self._web is not None:
            self._web.stop_event.set()
            self._web.shutdown()
            self._web.server_close()
        if self._web_thread is not None:
            self._web_thread.join(timeout=5)
        self.store.close()


def start_mss_sandbox(
    *,
    ca: Path,
    cert: Path,
    key: Path,
    database: Path,
    host: str = "127.0.0.1",
    smtp_port: int = 0,
    imap_port: int = 0,
    web_port: int = 0,
    slow_delay: float = 5.0,
    psc_verifier: PscTokenVerifier | None = None,
    owners_lookup: Callable[[str], Iterable[str]] | None = None,
) -> MssSandbox:
    """Start the MSS operator (port 0 = any free port) over its SQLite file `database`; with `psc_verifier`, PSC
    access tokens open the mailboxes `owners_lookup(address)` (national ids) or `assign_owner` give them."""
    from twisted.internet.threads import blockingCallFromThread

    database = Path(database)
    store = MssStore(database)
    issuer = TokenIssuer(database.parent / TOKEN_KEY_FILE)
    reactor = ensure_reactor()
    tls = tls_options(ca=ca, cert=cert, key=key)
    imap_holder: list[ImapFactory] = []

    def delivered(address: str) -> None:
        if imap_holder:
            reactor.callFromThread(imap_holder[0].delivered, address)

    service = MssService(store, slow_delay=slow_delay, on_delivered=delivered)
    authenticator = Authenticator(store, issuer, psc=psc_verifier, owners_lookup=owners_lookup)
    smtp_factory = SmtpFactory(tls=tls, service=service, authenticator=authenticator)
    imap_factory = ImapFactory(tls=tls, service=service, authenticator=authenticator)
    imap_holder.append(imap_factory)
    bound = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - only rewriting for the URLs

    ports: list[Any] = []
    try:
        ports.append(blockingCallFromThread(reactor, reactor.listenTCP, smtp_port, smtp_factory, interface=host))
        ports.append(blockingCallFromThread(reactor, reactor.listenTCP, imap_port, imap_factory, interface=host))
        web = MssWebServer((host, web_port), web_ssl_context(ca=ca, cert=cert, key=key), service, issuer)
    except BaseException:
        for port in ports:
            blockingCallFromThread(reactor, port.stopListening)
        store.close()
        raise
    web_url = f"https://{bound}:{web.server_address[1]}"
    issuer.issuer = web_url
    thread = threading.Thread(
        target=web.serve_forever, kwargs={"poll_interval": 0.2}, name="caducee-sandbox-mss-web", daemon=True
    )
    thread.start()
    sandbox = MssSandbox(
        host=bound,
        smtp_port=ports[0].getHost().port,
        imap_port=ports[1].getHost().port,
        web_url=web_url,
        service=service,
        issuer=issuer,
        authenticator=authenticator,
        _ports=ports,
        _factories=[smtp_factory, imap_factory],
        _web=web,
        _web_thread=thread,
    )
    logger.debug("Bac à sable MSS : SMTP %s, IMAP %s, %s", sandbox.smtp_port, sandbox.imap_port, web_url)
    return sandbox
