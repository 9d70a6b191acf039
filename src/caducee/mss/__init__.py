"""MSSanté: secure messaging with colleagues and patients (issue 5)."""
