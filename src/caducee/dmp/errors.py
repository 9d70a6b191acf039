"""The errors of the DMP services and selectors: French messages the screens show as they are."""

from __future__ import annotations


class DmpServiceError(Exception):
    """A refused or failed DMP operation; the message is French and shown as it is."""


class DmpUnconfigured(DmpServiceError):
    """No DMP endpoint (settings missing, sandbox not running): the outbox retries later."""
