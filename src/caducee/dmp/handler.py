"""The outbox handler of the "dmp" channel (filled by the product slice)."""
