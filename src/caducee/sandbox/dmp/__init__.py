"""DMP sandbox: a local HTTPS SOAP service standing for the national DMP (Mon espace santé), same protocol.

`server.start_dmp_sandbox` starts it (the runner does, next to INSi); `service` holds the transactions' rules,
`checks` the VIHF verification, `store` its own SQLite file, `patients` + data/dmp_patients.json the patients,
`demo` the preloaded documents. See docs/dmp.md §"The sandbox".
"""
