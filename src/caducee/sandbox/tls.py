"""What the sandboxes' HTTPS servers share: mutual TLS, the handshake in the worker thread, hostile-XML parsing.

Each national service stand-in (INSi, DMP) subclasses `MutualTlsServer` with its request handler and answers;
the transport behaves the same for all: TLS ≥ 1.2 with a client certificate from the sandbox CA, the handshake
done in the connection's thread (a silent client cannot block accept()), no Nagle delay between headers and body.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from lxml import etree

logger = logging.getLogger(__name__)


def server_ssl_context(*, ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """Server side of mutual TLS: TLS ≥ 1.2, a client certificate signed by `ca` required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    context.load_verify_locations(cafile=str(ca))
    return context


def parse_untrusted_request(data: bytes, error: Callable[[str], Exception]) -> etree._Element:
    """A request body parsed without entities, network or DTD; `error(message)` is raised otherwise."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise error(f"XML mal formé : {exc.msg}") from exc
    if cast(Any, root.getroottree().docinfo).doctype:  # lxml-stubs lack doctype
        raise error("DTD interdite dans une requête SOAP.")
    return root


class MutualTlsServer(ThreadingHTTPServer):
    """A threaded HTTPS server with client certificates; subclasses name the service (`label`) for the logs."""

    daemon_threads = True
    allow_reuse_address = True
    label = "Bac à sable"
    handshake_timeout = 10.0

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(address, handler)
        self.ssl_context = ssl_context
        self.stop_event = threading.Event()
        self.log_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.handshake_timeout)
        # Headers and body leave in separate writes: without NODELAY each answer waits ~40 ms (Nagle).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            # A bare connect-and-close (a liveness probe) is not worth more than a debug line.
            level = logging.DEBUG if isinstance(exc, ssl.SSLEOFError | ConnectionError) else logging.INFO
            logger.log(level, "%s : poignée de main TLS refusée (%s) : %s", self.label, client_address[0], exc)
            return
        try:
            super().finish_request(tls, client_address)  # the handler, over the TLS socket
        finally:
            self.connection_closed()
            try:
                tls.close()
            except OSError:
                pass

    def connection_closed(self) -> None:
        """Called in the connection's thread when it ends (release per-connection resources)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("%s : connexion de %s interrompue.", self.label, client_address[0], exc_info=True)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler of a sandbox; `_send` writes an answer, a client gone meanwhile is no error."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/soap+xml; charset=utf-8",
        extra: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError) as exc:
            logger.debug("%s : client parti avant la réponse (%s).", getattr(self.server, "label", "Bac à sable"), exc)
            self.close_connection = True
