"""The DMP sandbox's own registry/repository: one SQLite file (stdlib sqlite3, not the Django ORM).

The sandbox is a separate service: it must not share the product's database, and it must survive a restart
(DATA_DIR/sandbox/dmp.sqlite3). WAL journal, one connection per thread (reused across requests), and one
process-wide lock around each write transaction so a check-then-insert (uniqueId idempotency, RPLC, ITI-57
version checks) is atomic even with many client threads feeding at once.

Identifiers follow the DMP's rules (notes §1.2 "Identifiers", annexe_identifiants_xds_fhir.md): `entry_uuid`
assigned by the registry and new for every metadata version, `logical_id` stable across versions, `unique_id`
chosen by the sender.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caducee.sandbox.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
    ins TEXT PRIMARY KEY,          -- INS matricule (13 + key); the OID is a test or demo one
    config TEXT NOT NULL           -- JSON: exists, closed_on, closing_reason, traits, blocked...
);
CREATE TABLE IF NOT EXISTS submission_sets (
    entry_uuid TEXT PRIMARY KEY,
    unique_id TEXT NOT NULL,
    patient TEXT NOT NULL,
    submission_time TEXT NOT NULL, -- XDS DTM (UTC)
    author_national_id TEXT NOT NULL,
    metadata TEXT NOT NULL,        -- RegistryPackage XML in registry form
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ss_patient ON submission_sets (patient, submission_time);
CREATE TABLE IF NOT EXISTS documents (
    entry_uuid TEXT PRIMARY KEY,
    logical_id TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    patient TEXT NOT NULL,
    status TEXT NOT NULL,
    metadata TEXT NOT NULL,        -- ExtrinsicObject XML in registry form (status and version patched when read)
    content BLOB NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime_type TEXT NOT NULL,
    repository TEXT NOT NULL,
    submission_set TEXT NOT NULL,
    submission_time TEXT NOT NULL,
    author_national_id TEXT NOT NULL,
    confidentiality TEXT NOT NULL, -- space-separated codes (N R V MASQUE_PS ...)
    class_code TEXT NOT NULL,
    type_code TEXT NOT NULL,
    creation_time TEXT NOT NULL,
    service_start_time TEXT NOT NULL,
    is_signature INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL,
    UNIQUE (logical_id, version)
);
CREATE INDEX IF NOT EXISTS doc_patient ON documents (patient, status);
CREATE INDEX IF NOT EXISTS doc_unique ON documents (unique_id);
CREATE TABLE IF NOT EXISTS authorizations (
    patient TEXT NOT NULL,
    professional TEXT NOT NULL,    -- national id (VIHF NameID)
    valid_until TEXT,              -- ISO date; NULL = removed
    PRIMARY KEY (patient, professional)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(kw_only=True)
class _DocumentFields:
    """A document entry's registry fields, as stored (`StoredDocument`) or about to be (`NewDocument`)."""

    entry_uuid: str
    logical_id: str
    unique_id: str
    version: int
    patient: str
    status: str
    metadata: str
    hash: str
    size: int
    mime_type: str
    repository: str
    submission_set: str
    submission_time: str
    author_national_id: str
    confidentiality: tuple[str, ...]
    class_code: str
    type_code: str
    creation_time: str
    service_start_time: str
    is_signature: bool = False


@dataclass(kw_only=True)
class StoredDocument(_DocumentFields):
    seq: int


@dataclass
class StoredSubmissionSet:
    entry_uuid: str
    unique_id: str
    patient: str
    submission_time: str
    author_national_id: str
    metadata: str


@dataclass(kw_only=True)
class NewDocument(_DocumentFields):
    """A document entry to insert (the registry has already assigned its identifiers)."""

    content: bytes


@dataclass
class NewSubmissionSet:
    entry_uuid: str
    unique_id: str
    patient: str
    submission_time: str
    author_national_id: str
    metadata: str
    documents: list[NewDocument] = field(default_factory=list)


_DOC_COLUMNS = (
    "entry_uuid, logical_id, unique_id, version, patient, status, metadata, hash, size, mime_type, repository, "
    "submission_set, submission_time, author_national_id, confidentiality, class_code, type_code, creation_time, "
    "service_start_time, is_signature, seq"
)


def _document(row: sqlite3.Row) -> StoredDocument:
    values = dict(row)
    values["confidentiality"] = tuple(str(values["confidentiality"]).split())
    values["is_signature"] = bool(values["is_signature"])
    return StoredDocument(**values)


class DmpStore(SqliteStore):
    """Thread-safe access to the sandbox's SQLite file (see caducee.sandbox.sqlite)."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, SCHEMA)

    def _next_seq(self, db: sqlite3.Connection) -> int:
        db.execute(
            "INSERT INTO counters (name, value) VALUES ('seq', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        return int(db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0])

    # -- patients -----------------------------------------------------------------------------------------

    def seed_patients(self, patients: dict[str, dict[str, Any]]) -> None:
        """Patients of data/dmp_patients.json (the file is the reference: rows are replaced at each start)."""
        with self.write() as db:
            for ins, config in patients.items():
                db.execute(
                    "INSERT INTO patients (ins, config) VALUES (?, ?) "
                    "ON CONFLICT(ins) DO UPDATE SET config = excluded.config",
                    (ins, json.dumps(config)),
                )

    def patient_config(self, ins: str) -> dict[str, Any] | None:
        row = self._db().execute("SELECT config FROM patients WHERE ins = ?", (ins,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_patient_config(self, ins: str, config: dict[str, Any]) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO patients (ins, config) VALUES (?, ?) "
                "ON CONFLICT(ins) DO UPDATE SET config = excluded.config",
                (ins, json.dumps(config)),
            )

    # -- authorizations -----------------------------------------------------------------------------------

    def authorization_until(self, patient: str, professional: str) -> dt.date | bool | None:
        """The end date of the authorization, None if never given, False if removed."""
        row = (
            self._db()
            .execute(
                "SELECT valid_until FROM authorizations WHERE patient = ? AND professional = ?", (patient, professional)
            )
            .fetchone()
        )
        if row is None:
            return None
        return dt.date.fromisoformat(row[0]) if row[0] else False

    def set_authorization(self, patient: str, professional: str, until: dt.date | None) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO authorizations (patient, professional, valid_until) VALUES (?, ?, ?) "
                "ON CONFLICT(patient, professional) DO UPDATE SET valid_until = excluded.valid_until",
                (patient, professional, until.isoformat() if until else None),
            )

    # -- documents ----------------------------------------------------------------------------------------

    def insert_submission(self, db: sqlite3.Connection, submission: NewSubmissionSet) -> None:
        """Insert a submission set and its documents, inside a `write()` transaction."""
        db.execute(
            "INSERT INTO submission_sets (entry_uuid, unique_id, patient, submission_time, author_national_id, "
            "metadata, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                submission.entry_uuid,
                submission.unique_id,
                submission.patient,
                submission.submission_time,
                submission.author_national_id,
                submission.metadata,
                self._next_seq(db),
            ),
        )
        for document in submission.documents:
            self.insert_document(db, document)

    def insert_document(self, db: sqlite3.Connection, doc: NewDocument) -> None:
        db.execute(
            f"INSERT INTO documents ({_DOC_COLUMNS}, content) VALUES ({', '.join('?' * 22)})",  # noqa: S608 - constant column list, bound values
            (
                doc.entry_uuid,
                doc.logical_id,
                doc.unique_id,
                doc.version,
                doc.patient,
                doc.status,
                doc.metadata,
                doc.hash,
                doc.size,
                doc.mime_type,
                doc.repository,
                doc.submission_set,
                doc.submission_time,
                doc.author_national_id,
                " ".join(doc.confidentiality),
                doc.class_code,
                doc.type_code,
                doc.creation_time,
                doc.service_start_time,
                int(doc.is_signature),
                self._next_seq(db),
                doc.content,
            ),
        )

    def set_status(self, db: sqlite3.Connection, entry_uuid: str, status: str) -> None:
        db.execute("UPDATE documents SET status = ? WHERE entry_uuid = ?", (status, entry_uuid))

    def documents_by_unique_id(self, unique_id: str, db: sqlite3.Connection | None = None) -> list[StoredDocument]:
        rows = (db or self._db()).execute(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE unique_id = ? ORDER BY version",  # noqa: S608 - constant column list, bound values
            (unique_id,),
        )
        return [_document(row) for row in rows]

    def document(self, entry_uuid: str, db: sqlite3.Connection | None = None) -> StoredDocument | None:
        row = (
            (db or self._db())
            .execute(
                f"SELECT {_DOC_COLUMNS} FROM documents WHERE entry_uuid = ?",  # noqa: S608 - constant column list, bound values
                (entry_uuid,),
            )
            .fetchone()
        )
        return _document(row) if row else None

    def documents_of_patient(self, patient: str, statuses: Sequence[str]) -> list[StoredDocument]:
        marks = ", ".join("?" * len(statuses))
        rows = self._db().execute(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE patient = ? AND status IN ({marks}) ORDER BY seq",  # noqa: S608 - constant column list, bound values
            (patient, *statuses),
        )
        return [_document(row) for row in rows]

    def documents_of_submission(self, submission_set: str) -> list[StoredDocument]:
        rows = self._db().execute(
            f"SELECT {_DOC_COLUMNS} FROM documents WHERE submission_set = ? ORDER BY seq",  # noqa: S608 - constant column list, bound values
            (submission_set,),
        )
        return [_document(row) for row in rows]

    def content(self, entry_uuid: str) -> bytes:
        row = self._db().execute("SELECT content FROM documents WHERE entry_uuid = ?", (entry_uuid,)).fetchone()
        return bytes(row[0]) if row else b""

    def submission_sets(self, patient: str, submitted_from: str = "") -> list[StoredSubmissionSet]:
        rows = self._db().execute(
            "SELECT entry_uuid, unique_id, patient, submission_time, author_national_id, metadata "
            "FROM submission_sets WHERE patient = ? AND submission_time >= ? ORDER BY seq",
            (patient, submitted_from),
        )
        return [StoredSubmissionSet(**dict(row)) for row in rows]

    def submission_set(self, *, entry_uuid: str = "", unique_id: str = "") -> StoredSubmissionSet | None:
        row = (
            self._db()
            .execute(
                "SELECT entry_uuid, unique_id, patient, submission_time, author_national_id, metadata "
                "FROM submission_sets WHERE entry_uuid = ? OR unique_id = ?",
                (entry_uuid or "-", unique_id or "-"),
            )
            .fetchone()
        )
        return StoredSubmissionSet(**dict(row)) if row else None

    def count_documents(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM documents").fetchone()[0])
