"""SC.SSI/IAM.90 (and IAM.91): authentication events forwarded live as RFC 5424 syslog to CADUCEE_SYSLOG_ADDRESS,
over a real socket (UDP, TCP with octet counting, unix datagram), never with a password or a code; sent by the
process's syslog thread from a queue, so a slow or dead collector never delays a login."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from caducee.accounts import totp
from caducee.accounts.models import User
from caducee.core import audit
from caducee.core.crypto import unseal
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG (RFC 5424 §6), facility 13 (log audit).
LINE = re.compile(
    r"^<(?P<pri>\d+)>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>\S+) caducee - (?P<msgid>\S+) "
    r"\[caducee@32473 [^\]]*\](?: (?P<msg>.*))?$"
)


@pytest.fixture
def udp_collector(settings: Any) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    settings.SYSLOG_ADDRESS = f"127.0.0.1:{sock.getsockname()[1]}"
    yield sock
    flush()
    sock.close()
    audit._senders.clear()


def flush() -> None:
    """The syslog thread has sent every line queued so far."""
    assert audit.flush_syslog(timeout=10), "the syslog queue did not drain"


def _received(sock: socket.socket, count: int) -> list[str]:
    return [sock.recv(65535).decode("utf-8") for _ in range(count)]


def _nothing_more(sock: socket.socket) -> None:
    flush()
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recv(65535)


def test_login_failure_success_and_logout_reach_the_collector(
    client: Client, secretary: User, udp_collector: socket.socket
) -> None:
    """IAM.90: date and time, the identifier typed, the result — for every attempt."""
    client.post("/connexion/", {"username": "secretaire", "password": "Mauvais-mot-de-passe-1"})
    client.post("/connexion/", {"username": "inconnu", "password": "Mauvais-mot-de-passe-2"})
    client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    client.get("/")  # reading a page is audited elsewhere, not forwarded (only auth.*)
    client.post("/deconnexion/")
    lines = _received(udp_collector, 4)
    _nothing_more(udp_collector)
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["pri"], m["msgid"]) for m in parsed if m] == [
        ("108", "auth.login"),  # 13*8 + 4 (warning): refused
        ("108", "auth.login"),
        ("110", "auth.login"),  # 13*8 + 6 (informational): success
        ("110", "auth.logout"),
    ]
    assert "reason=bad_credentials username=secretaire" in lines[0]
    assert "username=inconnu" in lines[1] and 'outcome="refused"' in lines[1]
    assert "username=secretaire" in lines[2] and 'outcome="ok"' in lines[2] and 'ip="127.0.0.1"' in lines[2]
    joined = "\n".join(lines)
    for secret in ("Mauvais-mot-de-passe-1", "Mauvais-mot-de-passe-2", PASSWORD):
        assert secret not in joined


def test_lockout_totp_failure_and_password_change_are_forwarded_without_secrets(
    client: Client, doctor: User, udp_collector: socket.socket, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.LOGIN_MAX_FAILURES = 2
    monkeypatch.setattr(totp, "clock", lambda: 1_900_000_000.0)
    client.force_login(doctor)
    client.get("/compte/securite/totp/")
    doctor.refresh_from_db()
    key = totp.secret_bytes(unseal(doctor.totp_secret))
    good = totp.totp(key, 1_900_000_000.0)
    client.post("/compte/securite/totp/", {"code": good})
    new_password = "Autre-Mot-de-passe-2027!"
    client.post(
        "/compte/securite/",
        {"old_password": PASSWORD, "new_password": new_password, "confirmation": new_password},
    )
    client.post("/deconnexion/")
    client.post("/connexion/", {"username": "medecin", "password": new_password})
    client.post("/connexion/code/", {"code": "123456"})
    client.post("/connexion/code/", {"code": "654321"})
    lines = _received(udp_collector, 7)
    _nothing_more(udp_collector)
    parsed = [LINE.match(line) for line in lines]
    assert [m["msgid"] if m else line for m, line in zip(parsed, lines, strict=True)] == [
        "auth.totp_enable",
        "auth.password_change",  # IAM.91
        "auth.logout",
        "auth.password",  # the password accepted, the code awaited
        "auth.totp",
        "auth.lockout",  # the second failure locks (LOGIN_MAX_FAILURES = 2)
        "auth.totp",
    ]
    joined = "\n".join(lines)
    for secret in (PASSWORD, new_password, good, "123456", "654321", unseal(doctor.totp_secret)):
        assert secret not in joined
    assert "reason=bad_code username=medecin" in joined
    assert "minutes=" in joined and "<108>1" in joined


def test_tcp_collector_with_octet_counting(client: Client, secretary: User, settings: Any) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    settings.SYSLOG_ADDRESS = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    received = bytearray()

    def serve() -> None:
        conn, _ = server.accept()
        conn.settimeout(5)
        while received.count(b" <") < 2:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received.extend(chunk)
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        client.post("/connexion/", {"username": "secretaire", "password": "faux-faux-faux"})
        client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
        flush()
        thread.join(5)
    finally:
        server.close()
        audit._senders.clear()
    frames, data = [], bytes(received)
    while data:  # RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG
        length, _, rest = data.partition(b" ")
        frames.append(rest[: int(length)].decode())
        data = rest[int(length) :]
    assert len(frames) == 2 and all(LINE.match(f) for f in frames)
    assert 'outcome="refused"' in frames[0] and 'outcome="ok"' in frames[1]


def test_unix_datagram_collector(client: Client, secretary: User, settings: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(5)
        settings.SYSLOG_ADDRESS = path
        try:
            client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
            line = sock.recv(65535).decode()
        finally:
            flush()
            sock.close()
            audit._senders.clear()
    assert LINE.match(line) and "auth.login" in line


def test_a_collector_down_does_not_stop_the_login(client: Client, secretary: User, settings: Any) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there any more
    settings.SYSLOG_ADDRESS = f"tcp://127.0.0.1:{port}"
    try:
        response = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
        flush()
        sender = audit._senders[settings.SYSLOG_ADDRESS]
        # Down: the next events do not try again (no line queues up behind a dead collector) until the retry delay.
        opened: list[object] = []
        original_open = sender._open
        sender._open = lambda: opened.append(1) or original_open()  # type: ignore[method-assign]
        client.post("/deconnexion/")
        flush()
        assert opened == []
        sender._down_until = 0.0
        client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
        flush()
        assert opened == [1, 1]  # tried again (twice) after the delay
    finally:
        audit._senders.clear()
    assert response.status_code == 302 and response.url == "/"


def test_nothing_forwarded_without_an_address(client: Client, secretary: User, settings: Any) -> None:
    settings.SYSLOG_ADDRESS = ""
    sent: list[Any] = []
    original = audit.forward_syslog
    audit.forward_syslog = lambda event: sent.append(event) or True  # type: ignore[assignment]
    try:
        client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
    finally:
        audit.forward_syslog = original
    assert sent == []


def test_a_collector_that_hangs_does_not_delay_the_login(client: Client, secretary: User, settings: Any) -> None:
    """The socket work is the syslog thread's: the login answers while the collector has not taken the line."""
    settings.SYSLOG_ADDRESS = "tcp://127.0.0.1:9"
    release = threading.Event()
    sent: list[str] = []

    class Hanging(audit.SyslogSender):
        def send(self, line: str) -> bool:
            release.wait(10)  # a collector that accepts and never reads, for as long as the test wants
            sent.append(line)
            return True

    audit._senders[settings.SYSLOG_ADDRESS] = Hanging(settings.SYSLOG_ADDRESS)
    try:
        started = time.monotonic()
        first = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
        client.post("/deconnexion/")
        second = client.post("/connexion/", {"username": "secretaire", "password": PASSWORD})
        elapsed = time.monotonic() - started
        assert first.status_code == second.status_code == 302
        assert elapsed < 5 and sent == []  # answered while the first line still waits on the collector
        release.set()
        flush()
        assert [LINE.match(line)["msgid"] for line in sent] == ["auth.login", "auth.logout", "auth.login"]  # type: ignore[index]
    finally:
        release.set()
        flush()
        audit._senders.clear()


def test_the_queue_is_flushed_at_exit(tmp_path: Path) -> None:
    """A process that records an event and exits at once still hands the line to the collector (atexit flush)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    script = (
        "import django, types; django.setup()\n"
        "from django.utils import timezone\n"
        "from caducee.core import audit\n"
        "event = types.SimpleNamespace(outcome='ok', at=timezone.now(), actor_label='x', actor_id=None,\n"
        "    object_type='', object_id='', patient_id=None, ip=None, action='auth.login', detail={'username': 'x'})\n"
        "original = audit.SyslogSender.send\n"
        "def slow(self, line):\n"
        "    import time; time.sleep(0.5); return original(self, line)\n"
        "audit.SyslogSender.send = slow\n"
        "assert audit.forward_syslog(event)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "caducee.config.settings",
        "CADUCEE_SYSLOG_ADDRESS": f"127.0.0.1:{sock.getsockname()[1]}",
        "CADUCEE_DATA_DIR": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    try:
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
        line = sock.recv(65535).decode()
    finally:
        sock.close()
    assert LINE.match(line) and "auth.login" in line and "username=x" in line
