"""The address book's national source, the Annuaire Santé (issue 5 §5).

- `fhir`: client of the Annuaire Santé FHIR API v2 (API key, paging, `mailbox-mss` search, the
  `as-ext-mailbox-mss-metadata` extension).
- `extraction`: streaming importer of the public `Extraction_Correspondance_MSSante` file into `DirectoryEntry`.
- `search`: `directory_search()`, the instant offline search (three letters of the name plus city or specialty).
- `records`: `DirectoryRecord`, the one shape both sources produce, and the normalised search keys.
"""
