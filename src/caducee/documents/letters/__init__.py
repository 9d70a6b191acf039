"""Letters written in the browser from templates with merge fields, stored as CDA N1 documents (issue 3 §3)."""
