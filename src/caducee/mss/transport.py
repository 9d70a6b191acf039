"""SMTP submission and IMAP4rev1 sessions with an MSSanté operator (issue 5 §1), through smtplib and imapclient.

Every session (SC.MSS/CONF.05/06/07/12):
1. opens a plain connection, then STARTTLS with TLS ≥ 1.2 (CONF.01/02), the operator's certificate checked against
   the configured CA bundle and host name, the cipher suites of CONF.03 for TLS 1.2; nothing is authenticated
   before TLS (a server without STARTTLS is refused);
2. authenticates: PER/ORG mailboxes with SASL XOAUTH2 (`user=<BAL>^Aauth=Bearer <token>^A^A`, the token from
   `caducee.mss.tokens.access_token`), APP mailboxes with the practice's client certificate in the TLS handshake
   and SASL PLAIN with the mailbox address as login (CONF.12);
3. on an XOAUTH2 refusal, forgets the cached token and tries once with a new one; if the token still cannot be
   obtained or is refused, the session is closed and the tokens forgotten (CONF.10) → MssAuthError.

CONF.11: `smtp_send` and `imap_call` reopen a session the server closed (timeout, restart) once, without the user.
Errors are MssUnavailable (network, TLS, server down: retry later) or MssAuthError, with French messages.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from email.message import EmailMessage
from typing import TypeVar

import imapclient
from imapclient import exceptions as imap_errors

from caducee.mss.endpoint import MssEndpoint
from caducee.mss.models import Mailbox, MailboxKind
from caducee.mss.tokens import (
    MssAuthError,
    MssError,
    MssUnavailable,
    access_token,
    endpoint_or_unavailable,
    forget_tokens,
)

__all__ = [
    "MssAuthError",
    "MssError",
    "MssUnavailable",
    "client_ssl_context",
    "imap_call",
    "imap_session",
    "smtp_send",
    "smtp_session",
    "xoauth2_string",
]

# SC.MSS/CONF.03: 0xC030, 0xC02F, 0xC028, 0xC027, 0x009F, 0x009E (TLS 1.2; TLS 1.3 suites are left to OpenSSL).
CONF03_CIPHERS = ":".join(
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-RSA-AES128-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-AES128-GCM-SHA256",
    )
)
EHLO_NAME = "localhost"  # no FQDN lookup (it can stall on a badly configured resolver)

T = TypeVar("T")


def client_ssl_context(endpoint: MssEndpoint, *, client_certificate: bool) -> ssl.SSLContext:
    """TLS ≥ 1.2, the operator checked against the CA bundle and its host name; the practice's certificate for
    APP mailboxes (CONF.12)."""
    context = ssl.create_default_context(cafile=str(endpoint.ca) if endpoint.ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CONF03_CIPHERS)
    if client_certificate:
        if not (endpoint.client_cert and endpoint.client_key):
            raise MssAuthError("Une BAL applicative exige le certificat de la structure (CADUCEE_MSS_CLIENT_CERT).")
        context.load_cert_chain(certfile=str(endpoint.client_cert), keyfile=str(endpoint.client_key))
    return context


def xoauth2_string(address: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64): `user=…^Aauth=Bearer …^A^A` (CONF.07)."""
    return f"user={address}\x01auth=Bearer {token}\x01\x01"


def _is_app(mailbox: Mailbox) -> bool:
    return mailbox.kind == MailboxKind.APP


# --- SMTP -----------------------------------------------------------------------------------------------------------


def _smtp_authenticate(smtp: smtplib.SMTP, mailbox: Mailbox, endpoint: MssEndpoint) -> None:
    if _is_app(mailbox):
        try:
            smtp.auth("PLAIN", lambda challenge=None: f"\0{mailbox.address}\0", initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as exc:
            raise MssAuthError(
                f"Le serveur MSSanté refuse la BAL applicative {mailbox.address} : {_server_text(exc.smtp_error)}"
            ) from exc
        return
    for attempt in (1, 2):
        token = access_token(mailbox, endpoint=endpoint)
        initial = xoauth2_string(mailbox.address, token)

        # A refusal comes as a 334 with a JSON error: answer with an empty line, the server then says 535.
        def respond(challenge: bytes | None = None, initial: str = initial) -> str:
            return initial if challenge is None else ""

        try:
            smtp.auth("XOAUTH2", respond, initial_response_ok=True)
            return
        except smtplib.SMTPAuthenticationError as exc:
            forget_tokens(mailbox)
            if attempt == 2:
                raise MssAuthError(
                    f"Le serveur MSSanté refuse l'authentification de {mailbox.address} : "
                    f"{_server_text(exc.smtp_error)}"
                ) from exc


def _smtp_open(mailbox: Mailbox, endpoint: MssEndpoint) -> smtplib.SMTP:
    where = f"{endpoint.smtp_host}:{endpoint.smtp_port}"
    try:
        context = client_ssl_context(endpoint, client_certificate=_is_app(mailbox))
    except (OSError, ssl.SSLError) as exc:
        raise MssUnavailable(f"Certificat MSSanté illisible : {exc}") from exc
    try:
        smtp = smtplib.SMTP(endpoint.smtp_host, endpoint.smtp_port, local_hostname=EHLO_NAME, timeout=endpoint.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise MssUnavailable(f"Le serveur d'envoi MSSanté ({where}) ne répond pas : nouvel essai plus tard.") from exc
    try:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise MssUnavailable(f"Le serveur d'envoi MSSanté ({where}) n'offre pas STARTTLS : connexion refusée.")
        smtp.starttls(context=context)
        smtp.ehlo()
        _smtp_authenticate(smtp, mailbox, endpoint)
    except MssError:
        _smtp_close(smtp)
        raise
    except ssl.SSLError as exc:
        _smtp_close(smtp)
        raise MssUnavailable(
            f"Connexion TLS refusée avec le serveur d'envoi MSSanté ({where}) : {exc.reason}."
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        _smtp_close(smtp)
        raise MssUnavailable(f"Échange interrompu avec le serveur d'envoi MSSanté ({where}) : {exc}.") from exc
    return smtp


def _smtp_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


@contextmanager
def smtp_session(mailbox: Mailbox, *, endpoint: MssEndpoint | None = None) -> Iterator[smtplib.SMTP]:
    """An authenticated SMTP submission session for `mailbox` (STARTTLS, then XOAUTH2 or PLAIN with certificate)."""
    smtp = _smtp_open(mailbox, endpoint or endpoint_or_unavailable())
    try:
        yield smtp
    finally:
        _smtp_close(smtp)


def smtp_send(
    mailbox: Mailbox,
    message: EmailMessage,
    recipients: Sequence[str],
    *,
    mail_options: Sequence[str] = (),
    rcpt_options: Sequence[str] = (),
    endpoint: MssEndpoint | None = None,
) -> dict[str, tuple[int, bytes]]:
    """Submit `message` from `mailbox` to `recipients`; returns the refused recipients ({address: (code, text)}).

    `mail_options`/`rcpt_options` (DSN: RET, ENVID, NOTIFY) are used only when the server announces the DSN
    extension. A session the server closes before the end of the submission is reopened once (CONF.11).
    smtplib's exceptions for refusals (SMTPRecipientsRefused, SMTPSenderRefused, SMTPDataError) are left to the
    caller, which knows what a 4xx or a 5xx means for its delivery.
    """
    ep = endpoint or endpoint_or_unavailable()
    for attempt in (1, 2):
        with smtp_session(mailbox, endpoint=ep) as smtp:
            dsn = smtp.has_extn("dsn")
            try:
                return smtp.send_message(
                    message,
                    from_addr=mailbox.address,
                    to_addrs=list(recipients),
                    mail_options=list(mail_options) if dsn else [],
                    rcpt_options=list(rcpt_options) if dsn else [],
                )
            except smtplib.SMTPServerDisconnected as exc:
                if attempt == 2:
                    raise MssUnavailable("Le serveur d'envoi MSSanté a fermé la connexion pendant l'envoi.") from exc
            except smtplib.SMTPException:
                raise  # refusals (SMTPRecipientsRefused, SMTPSenderRefused, SMTPDataError…): the caller decides
            except OSError as exc:  # network, timeout, TLS
                if attempt == 2:
                    raise MssUnavailable(f"Envoi interrompu par une erreur réseau : {exc}.") from exc
    raise AssertionError("unreachable")


# --- IMAP -----------------------------------------------------------------------------------------------------------


def _imap_open(mailbox: Mailbox, endpoint: MssEndpoint) -> imapclient.IMAPClient:
    where = f"{endpoint.imap_host}:{endpoint.imap_port}"
    try:
        context = client_ssl_context(endpoint, client_certificate=_is_app(mailbox))
    except (OSError, ssl.SSLError) as exc:
        raise MssUnavailable(f"Certificat MSSanté illisible : {exc}") from exc
    try:
        client = imapclient.IMAPClient(endpoint.imap_host, port=endpoint.imap_port, ssl=False, timeout=endpoint.timeout)
    except (OSError, imap_errors.IMAPClientError) as exc:
        raise MssUnavailable(
            f"Le serveur de réception MSSanté ({where}) ne répond pas : nouvel essai plus tard."
        ) from exc
    try:
        if not client.has_capability("STARTTLS"):
            raise MssUnavailable(f"Le serveur de réception MSSanté ({where}) n'offre pas STARTTLS : connexion refusée.")
        client.starttls(context)
        _imap_authenticate(client, mailbox, endpoint)
    except MssError:
        _imap_close(client)
        raise
    except ssl.SSLError as exc:
        _imap_close(client)
        raise MssUnavailable(
            f"Connexion TLS refusée avec le serveur de réception MSSanté ({where}) : {exc.reason}."
        ) from exc
    except (OSError, imap_errors.IMAPClientError) as exc:
        _imap_close(client)
        raise MssUnavailable(f"Échange interrompu avec le serveur de réception MSSanté ({where}) : {exc}.") from exc
    return client


def _imap_authenticate(client: imapclient.IMAPClient, mailbox: Mailbox, endpoint: MssEndpoint) -> None:
    if _is_app(mailbox):
        try:
            client.plain_login(mailbox.address, "")
        except imap_errors.LoginError as exc:
            raise MssAuthError(f"Le serveur MSSanté refuse la BAL applicative {mailbox.address} : {exc}") from exc
        return
    for attempt in (1, 2):
        token = access_token(mailbox, endpoint=endpoint)
        steps = iter([xoauth2_string(mailbox.address, token)])

        # First the initial response, then an empty line to an error challenge (the server then says NO).
        def respond(challenge: bytes, steps: Iterator[str] = steps) -> bytes:
            return next(steps, "").encode("ascii")

        try:
            client.sasl_login("XOAUTH2", respond)
            return
        except imap_errors.LoginError as exc:
            forget_tokens(mailbox)
            if attempt == 2:
                raise MssAuthError(
                    f"Le serveur MSSanté refuse l'authentification de {mailbox.address} : {exc}"
                ) from exc


def _imap_close(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except (OSError, imap_errors.IMAPClientError):
        try:
            client.shutdown()
        except OSError:
            pass


@contextmanager
def imap_session(mailbox: Mailbox, *, endpoint: MssEndpoint | None = None) -> Iterator[imapclient.IMAPClient]:
    """An authenticated IMAP4rev1 session for `mailbox` (STARTTLS, then XOAUTH2 or PLAIN with certificate)."""
    client = _imap_open(mailbox, endpoint or endpoint_or_unavailable())
    try:
        yield client
    finally:
        _imap_close(client)


def imap_call(
    mailbox: Mailbox, action: Callable[[imapclient.IMAPClient], T], *, endpoint: MssEndpoint | None = None
) -> T:
    """`action(client)` in an IMAP session, reopened once if the server closed it (CONF.11).

    `action` must be safe to run again from the start (read by UID, mark seen…)."""
    ep = endpoint or endpoint_or_unavailable()
    for attempt in (1, 2):
        try:
            with imap_session(mailbox, endpoint=ep) as client:
                return action(client)
        except (imap_errors.IMAPClientAbortError, ConnectionError, TimeoutError, ssl.SSLEOFError) as exc:
            if attempt == 2:
                raise MssUnavailable(f"Le serveur de réception MSSanté a fermé la connexion : {exc}.") from exc
    raise AssertionError("unreachable")


def _server_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split()) or "refus sans explication"
