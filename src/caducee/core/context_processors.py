from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def caducee(request: HttpRequest) -> dict[str, Any]:
    return {"SANDBOX": settings.SANDBOX, "IDLE_TIMEOUT_MINUTES": settings.IDLE_TIMEOUT_MINUTES}
