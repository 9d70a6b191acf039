"""CI-SIS CDA R2 builders: French header, N1 (PDF envelope) and the VSM 1.4 (N3)."""
