"""The sandboxes' own SQLite files (DMP registry, MSS operator): one connection per thread, WAL, serialized writes.

`SqliteStore` is the base of `sandbox.dmp.store.DmpStore` and `sandbox.mss.store.MssStore`: `_db()` gives this
thread's connection, `write()` one short IMMEDIATE transaction (check-then-insert is atomic in this process),
`release()` closes this thread's connection when a client connection ends, `close()` all of them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SqliteStore:
    """Thread-safe access to a sandbox's SQLite file, created with `schema` (idempotent DDL) on first use."""

    def __init__(self, path: Path | str, schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        with self._write_lock:
            self._db().executescript(schema)  # executescript commits by itself

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, serialized in this process (check-then-insert is atomic)."""
        with self._write_lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")

    def release(self) -> None:
        """Close this thread's connection (the servers call it when a client connection ends)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            return
        self._local.db = None
        with self._connections_lock:
            if db in self._connections:
                self._connections.remove(db)
        db.close()

    def close(self) -> None:
        with self._connections_lock:
            for db in self._connections:
                try:
                    db.close()
                except sqlite3.Error:  # pragma: no cover - closing a connection of a finished thread
                    pass
            self._connections.clear()
        self._local = threading.local()  # a thread's stale handle is never reused after close
