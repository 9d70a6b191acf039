"""The MSS sandbox's mailboxes, messages and authentication log: one SQLite file (stdlib sqlite3).

Same pattern as the DMP sandbox store: the operator is a separate service with its own file next to the
others (DATA_DIR/sandbox/mss.sqlite3), surviving restarts; WAL, one connection per thread, one process-wide
lock around each write so a UID is allocated exactly once even when SMTP (reactor thread) and the patient
web page (its own threads) deliver at the same time.

IMAP needs per mailbox a UIDVALIDITY fixed at creation and strictly increasing UIDs (RFC 3501 §2.3.1.1):
`uid_next` is kept on the mailbox row and never reused, even after an EXPUNGE.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caducee.sandbox.mss.addresses import kind_of, normalize
from caducee.sandbox.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS mailboxes (
    address TEXT PRIMARY KEY,
    kind TEXT NOT NULL,            -- pro | patient
    uid_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    mailbox TEXT NOT NULL,
    uid INTEGER NOT NULL,
    flags TEXT NOT NULL,           -- space-separated IMAP flags
    internal_date TEXT NOT NULL,   -- ISO 8601 UTC
    size INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    in_reply_to TEXT NOT NULL,
    refs TEXT NOT NULL,            -- References, space-separated ids
    sender TEXT NOT NULL,          -- address of the From header
    subject TEXT NOT NULL,
    fin INTEGER NOT NULL,          -- X-MSS-MES: FIN (SC.MSS/CONF.21)
    raw BLOB NOT NULL,
    PRIMARY KEY (mailbox, uid)
);
CREATE TABLE IF NOT EXISTS auth_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    protocol TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    user TEXT NOT NULL,
    ok INTEGER NOT NULL,
    reason TEXT NOT NULL,
    token_issuer TEXT NOT NULL DEFAULT '',  -- XOAUTH2: psc | operateur (issue 6, SC.MSS/CONF.07)
    subject TEXT NOT NULL DEFAULT ''        -- the PSC SubjectNameID of a PSC token
);
"""
# Columns added after the first release: a file created before gets them at open (ALTER TABLE … ADD COLUMN).
_ADDED_COLUMNS = {"auth_log": (("token_issuer", "TEXT NOT NULL DEFAULT ''"), ("subject", "TEXT NOT NULL DEFAULT ''"))}


@dataclass(frozen=True)
class MailboxInfo:
    address: str
    kind: str
    uid_validity: int
    uid_next: int


@dataclass(frozen=True)
class StoredMessage:
    """A message without its bytes (`MssStore.raw` reads them)."""

    mailbox: str
    uid: int
    flags: tuple[str, ...]
    internal_date: str
    size: int
    message_id: str
    in_reply_to: str
    refs: tuple[str, ...]
    sender: str
    subject: str
    fin: bool


@dataclass(frozen=True)
class NewMessage:
    raw: bytes
    message_id: str = ""
    in_reply_to: str = ""
    refs: tuple[str, ...] = ()
    sender: str = ""
    subject: str = ""
    fin: bool = False


_MSG_COLUMNS = "mailbox, uid, flags, internal_date, size, message_id, in_reply_to, refs, sender, subject, fin"


def _message(row: sqlite3.Row) -> StoredMessage:
    values = dict(row)
    values["flags"] = tuple(str(values["flags"]).split())
    values["refs"] = tuple(str(values["refs"]).split())
    values["fin"] = bool(values["fin"])
    return StoredMessage(**values)


class MssStore(SqliteStore):
    """Thread-safe access to the operator's SQLite file (see caducee.sandbox.sqlite)."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA)
        with self.write() as db:
            for table, columns in _ADDED_COLUMNS.items():
                present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, definition in columns:
                    if name not in present:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")

    # -- mailboxes --------------------------------------------------------------------------------------

    def ensure_mailbox(self, address: str, db: sqlite3.Connection | None = None) -> MailboxInfo:
        """The mailbox of `address`, created on first use (UIDVALIDITY fixed from then on)."""
        address = normalize(address)
        if db is None:
            if (found := self.mailbox(address)) is not None:
                return found
            with self.write() as wdb:
                return self.ensure_mailbox(address, wdb)
        db.execute(
            "INSERT OR IGNORE INTO mailboxes (address, kind, uid_validity, uid_next, created) VALUES (?, ?, ?, 1, ?)",
            (address, kind_of(address), int(time.time()) & 0x7FFFFFFF, _now()),
        )
        info = self.mailbox(address, db)
        assert info is not None
        return info

    def mailbox(self, address: str, db: sqlite3.Connection | None = None) -> MailboxInfo | None:
        row = (
            (db or self._db())
            .execute(
                "SELECT address, kind, uid_validity, uid_next FROM mailboxes WHERE address = ?", (normalize(address),)
            )
            .fetchone()
        )
        return MailboxInfo(**dict(row)) if row else None

    def mailboxes(self, kind: str | None = None) -> list[MailboxInfo]:
        rows = self._db().execute(
            "SELECT address, kind, uid_validity, uid_next FROM mailboxes WHERE ? IS NULL OR kind = ? ORDER BY address",
            (kind, kind),
        )
        return [MailboxInfo(**dict(row)) for row in rows]

    # -- messages ---------------------------------------------------------------------------------------

    def append(self, address: str, message: NewMessage, flags: tuple[str, ...] = ()) -> int:
        """Store a message in `address`'s INBOX; return its UID."""
        with self.write() as db:
            box = self.ensure_mailbox(address, db)
            uid = box.uid_next
            db.execute("UPDATE mailboxes SET uid_next = ? WHERE address = ?", (uid + 1, box.address))
            db.execute(
                f"INSERT INTO messages ({_MSG_COLUMNS}, raw) VALUES ({', '.join('?' * 12)})",  # noqa: S608 - constant column list, bound values
                (
                    box.address,
                    uid,
                    " ".join(flags),
                    _now(),
                    len(message.raw),
                    message.message_id,
                    message.in_reply_to,
                    " ".join(message.refs),
                    normalize(message.sender),
                    message.subject,
                    int(message.fin),
                    message.raw,
                ),
            )
        return uid

    def messages(self, address: str) -> list[StoredMessage]:
        """The INBOX in UID order (IMAP sequence numbers are positions in this list, from 1)."""
        rows = self._db().execute(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE mailbox = ? ORDER BY uid",  # noqa: S608 - constant column list, bound values
            (normalize(address),),
        )
        return [_message(row) for row in rows]

    def message(self, address: str, uid: int) -> StoredMessage | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_MSG_COLUMNS} FROM messages WHERE mailbox = ? AND uid = ?",  # noqa: S608 - constant column list, bound values
                (normalize(address), uid),
            )
            .fetchone()
        )
        return _message(row) if row else None

    def raw(self, address: str, uid: int) -> bytes:
        row = (
            self._db()
            .execute("SELECT raw FROM messages WHERE mailbox = ? AND uid = ?", (normalize(address), uid))
            .fetchone()
        )
        return bytes(row[0]) if row else b""

    def raw_slice(self, address: str, uid: int, start: int, length: int) -> bytes:
        """`length` bytes of a stored message from `start` (IMAP partial FETCH), read by SQLite: the message itself is
        never loaded whole."""
        row = (
            self._db()
            .execute(
                "SELECT substr(raw, ?, ?) FROM messages WHERE mailbox = ? AND uid = ?",
                (start + 1, length, normalize(address), uid),
            )
            .fetchone()
        )
        return bytes(row[0]) if row and row[0] is not None else b""

    def set_flags(self, address: str, uid: int, flags: tuple[str, ...]) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE messages SET flags = ? WHERE mailbox = ? AND uid = ?",
                (" ".join(flags), normalize(address), uid),
            )

    def delete(self, address: str, uids: list[int]) -> None:
        with self.write() as db:
            db.executemany(
                "DELETE FROM messages WHERE mailbox = ? AND uid = ?", [(normalize(address), uid) for uid in uids]
            )

    # -- authentication log -----------------------------------------------------------------------------

    def log_auth(
        self,
        *,
        protocol: str,
        mechanism: str,
        user: str,
        ok: bool,
        reason: str = "",
        token_issuer: str = "",
        subject: str = "",
    ) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO auth_log (at, protocol, mechanism, user, ok, reason, token_issuer, subject)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), protocol, mechanism, user, int(ok), reason, token_issuer, subject[:40]),
            )

    def auth_log(self) -> list[dict[str, Any]]:
        rows = self._db().execute(
            "SELECT at, protocol, mechanism, user, ok, reason, token_issuer, subject FROM auth_log ORDER BY seq"
        )
        return [{**dict(row), "ok": bool(row["ok"])} for row in rows]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
