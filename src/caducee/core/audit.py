"""The audit trail: recording (append-only) and RFC 5424 syslog export."""

from __future__ import annotations

import atexit
import errno
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from caducee.core.models import AuditEvent

# Secrets are never logged: any detail key containing one of these words is masked.
_SECRET_WORDS = ("password", "motdepasse", "token", "secret", "key", "cle_privee")


def _scrub(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if any(word in k.lower() for word in _SECRET_WORDS) else v) for k, v in detail.items()}


def audit_record(
    *,
    actor: Any,
    action: str,
    object_type: str = "",
    object_id: object = "",
    patient_id: int | None = None,
    outcome: str = AuditEvent.Outcome.OK,
    detail: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    event = AuditEvent.objects.create(
        actor=user,
        actor_label=(user.get_full_name() or user.get_username()) if user else "système",
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id != "" else "",
        patient_id=patient_id,
        outcome=outcome,
        detail=_scrub(detail or {}),
        ip=request.META.get("REMOTE_ADDR") if request else None,
    )
    if action.startswith("auth.") and settings.SYSLOG_ADDRESS:
        forward_syslog(event)
    return event


def audit_patient_read(
    request: HttpRequest, action: str, patient_id: int, *, object_type: str = "patient", object_id: object = None
) -> AuditEvent:
    """A screen or a download showing a patient's record: one row naming the patient, so « Qui a consulté ce
    dossier » lists it (issue 6 §2)."""
    return audit_record(
        actor=request.user,
        action=action,
        object_type=object_type,
        object_id=patient_id if object_id is None else object_id,
        patient_id=patient_id,
        request=request,
    )


# RFC 5424: facility 13 = log audit; severity 6 informational, 4 warning (refused), 3 error.
_SEVERITY: dict[str, int] = {"ok": 6, "refused": 4, "error": 3}
_FACILITY_LOG_AUDIT = 13
# Private enterprise number placeholder for the SD-ID (RFC 5424 §6.3.2 requires name@number).
_SD_ID = "caducee@32473"


def _sd_escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _ascii_token(value: str, fallback: str = "-") -> str:
    token = "".join(ch for ch in value if 33 <= ord(ch) <= 126)
    return token[:48] or fallback


def to_syslog(event: AuditEvent, hostname: str | None = None) -> str:
    """One RFC 5424 line: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG."""
    pri = _FACILITY_LOG_AUDIT * 8 + _SEVERITY.get(event.outcome, 6)
    host = _ascii_token(hostname or socket.gethostname())
    timestamp = event.at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    params = {
        "actor": event.actor_label,
        "actor_id": event.actor_id or "",
        "object": f"{event.object_type}:{event.object_id}" if event.object_type else "",
        "patient": event.patient_id or "",
        "outcome": event.outcome,
        "ip": event.ip or "",
    }
    sd = "[" + _SD_ID + "".join(f' {k}="{_sd_escape(v)}"' for k, v in params.items()) + "]"
    message = " ".join(f"{k}={v}" for k, v in sorted(event.detail.items()))
    return f"<{pri}>1 {timestamp} {host} caducee - {_ascii_token(event.action)} {sd} {message}".rstrip()


def export_syslog(events: Iterable[AuditEvent]) -> Iterable[str]:
    for event in events:
        yield to_syslog(event) + "\n"


# --- SC.SSI/IAM.90: authentication events forwarded live to the practice's syslog collector -------------------

logger = logging.getLogger(__name__)


class SyslogSender:
    """Sends RFC 5424 lines to one collector: "host:port" (UDP, RFC 5426), "tcp://host:port" (RFC 6587
    octet counting), or a unix socket path (datagram, as /dev/log, else stream). Never raises: a collector down must
    not stop a login (the event stays in the audit trail, exportable later). Used by the syslog thread only
    (`SyslogQueue`): no request waits on its socket."""

    RETRY_AFTER_SECONDS = 30

    def __init__(self, address: str, timeout: float = 2.0) -> None:
        self.address = address
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0

    def _open(self) -> socket.socket:
        address = self.address
        if address.startswith("/"):
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.settimeout(self.timeout)
                sock.connect(address)
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EPROTOTYPE:  # a stream socket: connect again as one
                    raise
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(address)
            return sock
        tcp = address.startswith("tcp://")
        host, _, port = address.removeprefix("tcp://").removeprefix("udp://").rpartition(":")
        host = host.strip("[]")
        family, kind, proto, _, target = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.settimeout(self.timeout)
        sock.connect(target)
        return sock

    def send(self, line: str) -> bool:
        data = line.encode("utf-8")
        stream = self.address.startswith("tcp://")
        with self._lock:
            if time.monotonic() < self._down_until:
                return False  # the collector failed just before: do not queue up timeouts behind it for a while
            for attempt in (1, 2):  # a stream collector restarted: reconnect once
                try:
                    if self._sock is None:
                        self._sock = self._open()
                        stream = stream or self._sock.type == socket.SOCK_STREAM
                    if stream:
                        self._sock.sendall(b"%d %s" % (len(data), data))
                    else:
                        self._sock.send(data)
                    return True
                except (OSError, ValueError) as exc:
                    if self._sock is not None:
                        self._sock.close()
                        self._sock = None
                    if attempt == 2:
                        self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
                        logger.warning(
                            "Collecteur syslog %s injoignable (%s) : nouvel essai dans %d s, les événements restent "
                            "dans le journal d'audit.",
                            self.address,
                            exc,
                            self.RETRY_AFTER_SECONDS,
                        )
        return False


_senders: dict[str, SyslogSender] = {}


def _sender(address: str) -> SyslogSender:
    sender = _senders.get(address)
    if sender is None:
        sender = _senders.setdefault(address, SyslogSender(address))
    return sender


class SyslogQueue:
    """The lines waiting for the collector: one bounded queue and one daemon thread per process (IAM.90 off the
    request path). A login only formats its line and puts it here; the thread does the socket work, so a slow or
    dead collector never delays a login. Started on first use and again in a forked child (gunicorn workers);
    flushed at exit. A full queue drops the line with a warning: the event stays in the audit trail."""

    MAX_PENDING = 10_000
    EXIT_FLUSH_SECONDS = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, str] | threading.Event] | None = None
        self._overflowing = False

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's thread is not there, its queue and lock are not ours."""
        self._lock = threading.Lock()
        self._queue = None
        self._overflowing = False

    def _started(self) -> queue.Queue[tuple[str, str] | threading.Event]:
        with self._lock:
            if self._queue is None:
                self._queue = queue.Queue(maxsize=self.MAX_PENDING)
                thread = threading.Thread(target=self._run, args=(self._queue,), name="caducee-syslog", daemon=True)
                thread.start()
            return self._queue

    def put(self, address: str, line: str) -> bool:
        """Queues `line` for `address` without waiting; False when the queue is full (the line is dropped)."""
        try:
            self._started().put_nowait((address, line))
        except queue.Full:
            if not self._overflowing:
                self._overflowing = True
                logger.warning(
                    "File d'envoi syslog pleine (%d lignes en attente, collecteur %s trop lent) : lignes abandonnées, "
                    "les événements restent dans le journal d'audit.",
                    self.MAX_PENDING,
                    address,
                )
            return False
        self._overflowing = False
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until every line queued before this call went to its collector (or was given up); False when
        `timeout` seconds were not enough."""
        pending = self._queue
        if pending is None:
            return True
        done = threading.Event()
        try:
            pending.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    @staticmethod
    def _run(pending: queue.Queue[tuple[str, str] | threading.Event]) -> None:
        while True:
            item = pending.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            address, line = item
            try:
                _sender(address).send(line)
            except Exception:  # the thread must outlive any surprise: the next lines still go
                logger.exception("Envoi syslog vers %s en échec.", address)


_queue = SyslogQueue()
os.register_at_fork(after_in_child=_queue.reset_after_fork)


@atexit.register
def _flush_at_exit() -> None:
    _queue.flush(SyslogQueue.EXIT_FLUSH_SECONDS)


def forward_syslog(event: AuditEvent) -> bool:
    """Queues `event` (already scrubbed of secrets) for CADUCEE_SYSLOG_ADDRESS, in export_syslog's format; the
    syslog thread sends it. Returns at once: False only when the queue is full."""
    return _queue.put(settings.SYSLOG_ADDRESS, to_syslog(event))


def flush_syslog(timeout: float = 5.0) -> bool:
    """Waits for the lines queued so far to be sent (tests, and the process's exit)."""
    return _queue.flush(timeout)
