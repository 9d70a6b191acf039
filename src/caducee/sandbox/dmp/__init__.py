"""DMP sandbox: a local HTTPS SOAP service standing for the national DMP (Mon espace santé), same protocol.

`server.start_dmp_sandbox` starts it (the runner does, next to INSi); `service` holds the transactions' rules,
`checks` the VIHF verification, `signature` the lot's XAdES check, `hl7v3` TD0.2/TD0.3, `registry` the XDS/ebXML
vocabulary and the registry form, `wire` SOAP answers and MTOM, `store` its own SQLite file, `patients` +
data/dmp_patients.json the patients, `demo` the preloaded documents. See docs/dmp.md §"The sandbox".

All of it is the sandbox's own code: it imports nothing of the product but `caducee.core.oids` (DESIGN.md « Layout »),
so that a mistake in the DMP client cannot be mirrored here and pass.
"""
