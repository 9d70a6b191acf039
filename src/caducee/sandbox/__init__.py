"""Local stand-ins for the national services, speaking their real protocols over real sockets.

This package imports nothing from the product except shared constants (`caducee.core.oids`,
`caducee.core.text`): the product talks to it exactly as it would to the real services.
"""
