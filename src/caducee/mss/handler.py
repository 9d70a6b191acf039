"""The outbox handler of the "mss" channel: submit a queued message (action "send") or an MDN (action "mdn").

Registered at import (`MssConfig.ready` imports this module). Contract: caducee.core.outbox.

"send": the delivery's key (`document_unique_id`) is the message's Message-ID, fixed when the message was queued
(`caducee.mss.services.mss_send`). The mail is rebuilt from the stored OutboundMessage at each attempt — same
Message-ID, Date, subject, body and XDM archive (submission set practice root + ".4." + message id) — so a resend
after a crash is the same message, which recipients can recognise. Only the recipients not yet accepted by the
server are sent to (a partial 4xx refusal is retried for those alone).

Outcomes:
* every recipient accepted → recipients and message "envoyé" (then DSN/MDN move them on, `caducee.mss.receipts`);
* a recipient refused with 5xx → that recipient "erreur" with the server's text; if none was accepted,
  PermanentDeliveryError (retrying cannot help; the user may retry by hand);
* a 4xx refusal, a network, TLS or authentication failure → TransientDeliveryError (retry with back-off);
* the message cannot be built any more (identity no longer QUAL, document unreadable) → PermanentDeliveryError.
"""

from __future__ import annotations

import smtplib
from typing import Any

from django.db import transaction
from django.utils import timezone

from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent, Delivery
from caducee.core.outbox import PermanentDeliveryError, TransientDeliveryError, register_handler
from caducee.mss.compose import ComposeError, outbound_email
from caducee.mss.models import OutboundMessage, OutboundRecipient
from caducee.mss.receipts import mdn_submit, message_state_refresh, recipient_update, xtext_encode
from caducee.mss.tokens import MssError

CHANNEL = "mss"
State = OutboundMessage.State
# Recipients still to send to: never accepted, or refused (a manual retry tries them again).
UNSENT = (State.QUEUED, State.ERROR)


def _server_text(code: int, raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"refusé par le serveur MSSanté ({code} {' '.join(text.split())})"


def _audit(message: OutboundMessage, outcome: str, **detail: Any) -> None:
    audit_record(
        actor=message.author,
        action="mss.submit",
        object_type="mss_message",
        object_id=message.pk,
        patient_id=message.patient_id,
        outcome=outcome,
        detail={"message_id": message.message_id, **detail},
    )


def send_mss_delivery(delivery: Delivery, key: str) -> dict[str, Any]:
    """Send one "mss" delivery (see the module docstring); returns the result stored on the delivery."""
    del key  # the Message-ID (delivery.document_unique_id) is the idempotency key
    if delivery.action == "mdn":
        try:
            return mdn_submit(payload=delivery.payload or {})
        except MssError as exc:
            raise TransientDeliveryError(str(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            error = _server_text(exc.smtp_code, exc.smtp_error)
            raise (PermanentDeliveryError if exc.smtp_code >= 500 else TransientDeliveryError)(
                f"Accusé de lecture {error}"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"Accusé de lecture refusé : {exc.recipients}") from exc
    if delivery.action != "send":
        raise PermanentDeliveryError(f"Action MSSanté inconnue : {delivery.action}.")
    message = (
        OutboundMessage.objects.select_related("mailbox__owner", "author", "patient__identity")
        .filter(message_id=delivery.document_unique_id)
        .first()
    )
    if message is None:
        raise PermanentDeliveryError("Le message à envoyer n'existe plus.")
    pending = list(message.recipients.filter(state__in=UNSENT).order_by("id"))
    if not pending:
        return {"message_id": message.message_id, "accepted": [], "refused": {}}
    try:
        mail = outbound_email(message)
    except ComposeError as exc:
        _audit(message, AuditEvent.Outcome.REFUSED, reason=str(exc))
        _fail_all(message, pending, str(exc))
        raise PermanentDeliveryError(str(exc)) from exc

    from caducee.mss.transport import smtp_send

    addresses = [r.address for r in pending]
    try:
        refused = smtp_send(
            message.mailbox,
            mail,
            addresses,
            mail_options=["RET=HDRS", f"ENVID={xtext_encode(message.message_id)}"],
            rcpt_options=["NOTIFY=SUCCESS,FAILURE,DELAY"],
        )
    except smtplib.SMTPRecipientsRefused as exc:
        refused = dict(exc.recipients)
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        reason = _server_text(exc.smtp_code, exc.smtp_error)
        _audit(message, AuditEvent.Outcome.ERROR, reason=reason)
        if exc.smtp_code >= 500:
            _fail_all(message, pending, f"Message {reason}")
            raise PermanentDeliveryError(f"Message {reason}") from exc
        raise TransientDeliveryError(f"Message {reason} : nouvel essai plus tard.") from exc
    except MssError as exc:
        _audit(message, AuditEvent.Outcome.ERROR, reason=str(exc))
        raise TransientDeliveryError(str(exc)) from exc
    except (smtplib.SMTPException, OSError) as exc:
        _audit(message, AuditEvent.Outcome.ERROR, reason=str(exc))
        raise TransientDeliveryError(f"Envoi MSSanté interrompu : {exc}") from exc
    return _record(message, pending, refused)


def _fail_all(message: OutboundMessage, recipients: list[OutboundRecipient], reason: str) -> None:
    with transaction.atomic():
        for recipient in recipients:
            recipient_update(recipient=recipient, state=State.ERROR, reason=reason)
        message_state_refresh(message=message)


def _record(
    message: OutboundMessage, pending: list[OutboundRecipient], refused: dict[str, tuple[int, bytes]]
) -> dict[str, Any]:
    by_address = {address.lower(): value for address, value in refused.items()}
    accepted: list[str] = []
    permanent: dict[str, str] = {}
    temporary: dict[str, str] = {}
    with transaction.atomic():
        for recipient in pending:
            answer = by_address.get(recipient.address.lower())
            if answer is None:
                accepted.append(recipient.address)
                recipient_update(recipient=recipient, state=State.SENT)
                continue
            code, text = answer
            reason = _server_text(code, text)
            if code >= 500:
                permanent[recipient.address] = reason
                recipient_update(recipient=recipient, state=State.ERROR, reason=f"Destinataire {reason}")
            else:
                temporary[recipient.address] = reason
                recipient.state_reason = f"Destinataire {reason} : nouvel essai prévu."
                recipient.save(update_fields=["state_reason"])
        if accepted and message.sent_at is None:
            message.sent_at = timezone.now()
            message.save(update_fields=["sent_at"])
        message_state_refresh(message=message)
    outcome = AuditEvent.Outcome.OK if accepted else AuditEvent.Outcome.ERROR
    _audit(message, outcome, accepted=accepted, refused=permanent, deferred=temporary)
    if temporary:
        raise TransientDeliveryError(
            "Destinataire(s) momentanément refusé(s) : "
            + " ; ".join(f"{a} ({r})" for a, r in temporary.items())
            + ". Nouvel essai plus tard."
        )
    if permanent and not accepted:
        raise PermanentDeliveryError(
            "Message refusé pour tous les destinataires : " + " ; ".join(f"{a} ({r})" for a, r in permanent.items())
        )
    return {"message_id": message.message_id, "accepted": accepted, "refused": permanent}


register_handler(CHANNEL, send_mss_delivery)
