"""Document identifiers (pure): the uniqueId root of the practice's documents, the identifiers of a stored one.

The numbering itself writes (a sequence row): it is `documents.services.document_ids_new`.
"""

from __future__ import annotations

from caducee.accounts.models import Practice
from caducee.documents.cda.header import DocumentIds, practice_oid_root
from caducee.documents.models import Document


def document_root(practice: Practice | None) -> str:
    """The OID of the practice's documents: practice root + ".1" (uniqueId root)."""
    return practice_oid_root(practice) + ".1"


def document_ids_of(document: Document) -> DocumentIds:
    """The identifiers of a stored document (for relatedDocument RPLC when a new version replaces it)."""
    return DocumentIds(
        document.unique_id_root,
        document.unique_id_ext,
        document.set_id_root,
        document.set_id_ext,
        document.version_number,
    )
