"""The audit trail: recording (append-only) and RFC 5424 syslog export."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

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
    return AuditEvent.objects.create(
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
