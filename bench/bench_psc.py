"""Benchmark: Pro Santé Connect on Caducée's side (issue 6 §1), against the PSC sandbox on loopback.

    .venv/bin/python bench/bench_psc.py [--logins 50] [--refreshes 100]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/caducee_bench_psc .venv/bin/python bench/bench_psc.py

A fresh SQLite database in var/bench-psc/ unless DATABASE_URL is set. Measured with Django's test client (no browser,
no network beyond loopback HTTPS to the sandbox):

1. the callback (`/connexion/psc/retour/`: state check, code exchange, ID token check with the cached JWKS, userinfo,
   session opened) for a linked user with one work situation — what the doctor waits for after approving on the
   e-CPS, target < 300 ms;
2. `psc_access_token` when the access token must be refreshed (the worker before an MSSanté send): refresh under a
   row lock, tokens sealed, target < 100 ms;
3. a page request of a PSC-logged user when no keep-alive is due (the middleware's one query).

A benchmark reports; it never fails: the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from bench_common import fresh_django, percentile

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench-psc"


def _setup() -> None:
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    fresh_django(DATA_DIR)


def _report(label: str, values: list[float], target: str) -> None:
    ms = [v * 1000 for v in values]
    print(
        f"{label}: n={len(ms)} p50={statistics.median(ms):.1f} ms p95={percentile(ms, 95):.1f} ms "
        f"max={max(ms):.1f} ms (target {target})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--refreshes", type=int, default=100)
    args = parser.parse_args()
    _setup()
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from caducee.accounts.models import PscSession, Role, User
    from caducee.accounts.psc.services import psc_access_token
    from caducee.core.endpoints import apply_endpoint_settings
    from caducee.sandbox.pki import ensure_pki
    from caducee.sandbox.psc import start_psc_sandbox
    from caducee.sandbox.runner import psc_settings

    pki = ensure_pki(Path(tempfile.mkdtemp(prefix="bench-psc-")))
    sandbox = start_psc_sandbox(
        ca=pki.ca_cert,
        cert=pki.server_cert,
        key=pki.server_key,
        keys_path=DATA_DIR / "psc-signing.pem",
        client_secret=secrets.token_urlsafe(24),
    )
    apply_endpoint_settings(psc_settings(sandbox))  # what `caducee sandbox` would publish for it
    settings.SANDBOX = True
    settings.PSC_PUBLIC_URL = "http://127.0.0.1:8000"
    hugo_id = "889970023456"  # one work situation in the sandbox's directory
    password = secrets.token_urlsafe(16)
    # The audit trail is append-only and names its actors: the bench user is kept between runs, relinked each time.
    hugo, _ = User.objects.get_or_create(username="bench-hugo", defaults={"role": Role.MEDECIN, "rpps": hugo_id[1:]})
    hugo.set_password(password)
    hugo.psc_sub = None
    hugo.save()
    callbacks: list[float] = []
    client = Client()
    try:
        for index in range(args.logins + 1):
            client = Client()
            start = client.get("/connexion/psc/")
            back = urlsplit(sandbox.approve_for_tests(start["Location"], hugo_id))
            begun = time.perf_counter()
            response = client.get(back.path + "?" + back.query)
            elapsed = time.perf_counter() - begun
            if index == 0:  # the first login links the account (its password once); the others go straight in
                client.post("/connexion/psc/rapprochement/", {"username": "bench-hugo", "password": password})
                continue
            assert response.status_code == 302 and response["Location"] == "/", response
            callbacks.append(elapsed)
        _report("PSC callback (code, ID token, userinfo, session)", callbacks, "< 300 ms")

        refreshes: list[float] = []
        for _ in range(args.refreshes):
            PscSession.objects.filter(user=hugo, ended_at__isnull=True).update(access_expires_at=timezone.now())
            begun = time.perf_counter()
            psc_access_token(user=hugo)
            refreshes.append(time.perf_counter() - begun)
        _report("psc_access_token with a refresh", refreshes, "< 100 ms")

        pages: list[float] = []
        for _ in range(args.refreshes):
            begun = time.perf_counter()
            assert client.get("/remplacement/").status_code == 200
            pages.append(time.perf_counter() - begun)
        _report("a page of a PSC-logged user, no keep-alive due (« Remplacement »)", pages, "tens of ms")
    finally:
        sandbox.stop()
        PscSession.objects.filter(user=hugo).delete()


if __name__ == "__main__":
    main()
