from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Django's own WSGI handler (what `caducee.config.wsgi` exposes), so core does not import the wiring.
        from django.core.wsgi import get_wsgi_application

        return get_wsgi_application()


def run_gunicorn(*, bind: str, workers: int, threads: int = 4) -> None:
    _Gunicorn(
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            # The access log never carries query strings (they may hold a searched name or birth date).
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
            "timeout": 60,
            "graceful_timeout": 10,
        }
    ).run()
