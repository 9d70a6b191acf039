"""OIDs and code systems shared by every app and by the sandbox (facts, sources noted)."""

# Matricule INS assigning authorities (FR Core FRCorePatientINSProfile; CI-SIS structuration minimale).
OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_OIDS = {OID_INS_NIR, OID_INS_NIA, OID_INS_NIR_TEST, OID_INS_NIR_DEMO}
# OIDs whose matricules belong to no real person: never sent to a production service.
NON_PRODUCTION_INS_OIDS = {OID_INS_NIR_TEST, OID_INS_NIR_DEMO}

# Health professionals' national identifier (8 + RPPS, 0 + ADELI) — CI-SIS, TRE_G08.
OID_PS_NATIONAL_ID = "1.2.250.1.71.4.2.1"
# Structures: FINESS (1.2.250.1.71.4.2.2) — CI-SIS.
OID_STRUCTURE_ID = "1.2.250.1.71.4.2.2"

# INSi SOAP actions and namespaces (CNAM WSDL DESIR_ICIR_EXP_1.5.0).
INSI_ACTION_TRAITS = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
INSI_ACTION_VITALE = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale"
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_INSI_RECSANS = "http://www.cnamts.fr/INSiRecSans"
NS_INSI_RECVIT = "http://www.cnamts.fr/INSiRecVit"
NS_INSI_RESULTAT = "http://www.cnamts.fr/INSiResultat"
NS_CTXLPS = "urn:siram:lps:ctxlps"
NS_CTXBAM = "urn:siram:bam:ctxbam"
NS_SIRAM = "urn:siram"
