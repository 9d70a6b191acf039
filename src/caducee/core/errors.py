"""Errors shared by every floor, so that each may raise or catch them by name."""

from __future__ import annotations


class SandboxDataError(Exception):
    """R28: sandbox or test data about to reach a real national service.

    Raised by the gates (`identity.ins.transmissible_ins` for a test identity, `accounts.services.
    practice_check_national_service` for a practice that ran on the sandbox) and caught by name where a screen
    or a message says why nothing is sent — never by `except Exception`, which would hide a real bug.
    """
