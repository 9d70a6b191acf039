"""The operator's HTTPS side: the token endpoint and the patient ("Mon espace santé") messaging page.

- `POST /token` (form `grant_type=client_credentials&login_hint=<mailbox>`), only over mutual TLS with a
  client certificate of the sandbox CA (the practice's): `{"access_token": <JWT RS256>, "token_type":
  "Bearer", "expires_in": 120}`; OAuth2 error JSON otherwise (RFC 6749 §5.2). Stands for Pro Santé Connect.
- `/patient/` lists the patient mailboxes, `/patient/<address>/` a patient's messages, `/patient/<address>/<uid>`
  displays one (MDN `displayed` when asked) with a reply form; `POST …/<uid>/reply` answers, refused with a
  French message once the thread carries `X-MSS-MES: FIN` (SC.MSS/CONF.21).
The page needs no client certificate (a browser test opens it); TLS ≥ 1.2 with the sandbox server certificate.
"""

from __future__ import annotations

import html
import json
import logging
import ssl
import urllib.parse
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from caducee.sandbox.mss import addresses
from caducee.sandbox.mss.service import MssService, ReplyRefused
from caducee.sandbox.mss.tokens import TOKEN_LIFETIME, TokenIssuer
from caducee.sandbox.tls import MutualTlsServer, SandboxRequestHandler

logger = logging.getLogger("caducee.sandbox.mss")

MAX_FORM_BYTES = 256 * 1024
XDM_PREFIX = "XDM/1.0/DDM+"


def web_ssl_context(*, ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """TLS ≥ 1.2; a client certificate is asked for and, when given, must chain to the sandbox CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    context.load_verify_locations(cafile=str(ca))
    return context


class MssWebServer(MutualTlsServer):
    label = "Bac à sable MSS (web)"

    def __init__(
        self, address: tuple[str, int], context: ssl.SSLContext, service: MssService, issuer: TokenIssuer
    ) -> None:
        super().__init__(address, MssWebHandler, context)
        self.service = service
        self.issuer = issuer

    def connection_closed(self) -> None:
        self.service.store.release()


_STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;color:#222}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}.refus{color:#a00;font-weight:bold}"
    "table{border-collapse:collapse}td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left}"
)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


def _display_subject(subject: str) -> str:
    """The prefix XDM/1.0/DDM+ is hidden from the reader (SC.MSS/UX.28)."""
    return subject[len(XDM_PREFIX) :] if subject.startswith(XDM_PREFIX) else subject


def _text_of(raw: bytes) -> tuple[str, list[str]]:
    """The text/plain body and the attachments' names of a message (best effort on broken MIME)."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        part = message.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        names = [a.get_filename() or "(sans nom)" for a in message.iter_attachments()]
        return str(text), names
    except Exception:
        return raw.decode("utf-8", "replace")[:20000], []


class MssWebHandler(SandboxRequestHandler):
    server: MssWebServer
    server_version = "CaduceeSandboxMSS/1.0"
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _html(self, status: int, title: str, body: str) -> None:
        self._send(status, _page(title, body), "text/html; charset=utf-8")

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(
            status,
            json.dumps(payload).encode(),
            "application/json",
            extra={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _read_form(self) -> dict[str, str] | None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            self.close_connection = True
            return None
        data = self.rfile.read(int(length))
        try:
            pairs = urllib.parse.parse_qs(data.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            return None
        return {key: values[0] for key, values in pairs.items()}

    # -- routing ------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        try:
            path = urllib.parse.unquote(self.path.split("?")[0])
            parts = [p for p in path.split("/") if p]
            if parts[:1] != ["patient"]:
                self._html(404, "Page introuvable", "<p>Cette page n'existe pas.</p>")
            elif len(parts) == 1:
                self._patients()
            elif len(parts) == 2:
                self._inbox(parts[1])
            elif len(parts) == 3 and parts[2].isdigit():
                self._read(parts[1], int(parts[2]))
            else:
                self._html(404, "Page introuvable", "<p>Cette page n'existe pas.</p>")
        except Exception:
            logger.exception("Bac à sable MSS (web) : erreur interne")
            self._html(500, "Erreur", "<p>Erreur interne du bac à sable.</p>")

    def do_POST(self) -> None:
        try:
            path = urllib.parse.unquote(self.path.split("?")[0])
            parts = [p for p in path.split("/") if p]
            if parts == ["token"]:
                self._token()
            elif len(parts) == 4 and parts[0] == "patient" and parts[2].isdigit() and parts[3] == "reply":
                self._reply(parts[1], int(parts[2]))
            else:
                self.close_connection = True
                self._html(404, "Page introuvable", "<p>Cette page n'existe pas.</p>")
        except Exception:
            logger.exception("Bac à sable MSS (web) : erreur interne")
            self._html(500, "Erreur", "<p>Erreur interne du bac à sable.</p>")

    # -- token endpoint -----------------------------------------------------------------------------------

    def _token(self) -> None:
        certificate = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        form = self._read_form()
        if not certificate:
            self._json(401, {"error": "invalid_client", "error_description": "Certificat client obligatoire."})
            return
        if form is None:
            self._json(400, {"error": "invalid_request", "error_description": "Formulaire illisible."})
            return
        if form.get("grant_type") != "client_credentials":
            self._json(400, {"error": "unsupported_grant_type", "error_description": "client_credentials attendu."})
            return
        mailbox = addresses.normalize(form.get("login_hint", ""))
        if not addresses.in_trust_space(mailbox) or addresses.unknown_reason(mailbox) or addresses.is_patient(mailbox):
            self._json(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "login_hint : adresse MSSanté de professionnel attendue.",
                },
            )
            return
        self._json(
            200,
            {
                "access_token": self.server.issuer.issue(mailbox),
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
            },
        )

    # -- patient pages ------------------------------------------------------------------------------------

    def _patient_or_404(self, address: str) -> str | None:
        address = addresses.normalize(address)
        box = self.server.service.store.mailbox(address)
        if box is None or box.kind != addresses.KIND_PATIENT:
            self._html(404, "Boîte introuvable", "<p>Cette boîte aux lettres patient n'existe pas.</p>")
            return None
        return address

    def _patients(self) -> None:
        rows = []
        for box in self.server.service.store.mailboxes(addresses.KIND_PATIENT):
            count = len(self.server.service.store.messages(box.address))
            link = "/patient/" + urllib.parse.quote(box.address) + "/"
            rows.append(f'<li><a href="{link}">{html.escape(box.address)}</a> ({count} message(s))</li>')
        body = f"<ul>{''.join(rows)}</ul>" if rows else "<p>Aucune boîte patient pour l'instant.</p>"
        self._html(200, "Mon espace santé — messageries patients (bac à sable)", body)

    def _inbox(self, address: str) -> None:
        found = self._patient_or_404(address)
        if found is None:
            return
        rows = []
        for message in reversed(self.server.service.store.messages(found)):
            link = f"/patient/{urllib.parse.quote(found)}/{message.uid}"
            unread = "" if "\\Seen" in message.flags else " <strong>(non lu)</strong>"
            subject = html.escape(_display_subject(message.subject) or "(sans objet)")
            rows.append(
                f'<tr><td>{html.escape(message.sender)}</td><td><a href="{link}">{subject}</a>{unread}</td>'
                f"<td>{html.escape(message.internal_date)}</td></tr>"
            )
        table = (
            "<table><tr><th>De</th><th>Objet</th><th>Reçu le</th></tr>" + "".join(rows) + "</table>"
            if rows
            else "<p>Aucun message.</p>"
        )
        self._html(200, f"Messagerie de {found}", table + '<p><a href="/patient/">Toutes les boîtes</a></p>')

    def _read(self, address: str, uid: int) -> None:
        found = self._patient_or_404(address)
        if found is None:
            return
        service = self.server.service
        message = service.read(found, uid)
        if message is None:
            self._html(404, "Message introuvable", "<p>Ce message n'existe pas.</p>")
            return
        text, attachments = _text_of(service.store.raw(found, uid))
        refusal = service.reply_refusal(found, uid)
        files = "".join(f"<li>{html.escape(name)}</li>" for name in attachments)
        if refusal:
            answer = f'<p class="refus" id="refus">{html.escape(refusal)}</p>'
        else:
            action = f"/patient/{urllib.parse.quote(found)}/{uid}/reply"
            answer = (
                f'<form method="post" action="{action}"><label for="body">Votre réponse</label><br>'
                '<textarea id="body" name="body" rows="6" cols="70" required></textarea><br>'
                '<button type="submit">Répondre</button></form>'
            )
        body = (
            f"<p><strong>De :</strong> {html.escape(message.sender)}</p>"
            f"<p><strong>Objet :</strong> {html.escape(_display_subject(message.subject))}</p>"
            f"<pre>{html.escape(text)}</pre>"
            + (f"<p>Pièces jointes :</p><ul>{files}</ul>" if files else "")
            + answer
            + f'<p><a href="/patient/{urllib.parse.quote(found)}/">Retour à la messagerie</a></p>'
        )
        self._html(200, _display_subject(message.subject) or "(sans objet)", body)

    def _reply(self, address: str, uid: int) -> None:
        form = self._read_form()
        found = self._patient_or_404(address)
        if found is None:
            return
        if form is None:
            self._html(400, "Réponse illisible", "<p>Le formulaire n'a pas pu être lu.</p>")
            return
        try:
            self.server.service.reply(found, uid, form.get("body", ""))
        except ReplyRefused as refused:
            self._html(403, "Réponse impossible", f'<p class="refus" id="refus">{html.escape(str(refused))}</p>')
            return
        back = f"/patient/{urllib.parse.quote(found)}/"
        self._html(
            200, "Réponse envoyée", f'<p id="envoye">Votre réponse a été envoyée.</p><p><a href="{back}">Retour</a></p>'
        )
