"""MSSanté sandbox operator: a real SMTP submission + IMAP4rev1 server with STARTTLS on loopback (issue 5 §7).

What it offers (docs: the "Sandbox operator" part of the MSS contract):
- SMTP (RFC 5321) and IMAP4rev1, both with STARTTLS mandatory before any authentication (TLS ≥ 1.2,
  SC.MSS/CONF.01/05/06), the server certificate being the sandbox's and the CA the sandbox CA;
- SASL XOAUTH2 with a JWT issued by the sandbox's token endpoint or a Pro Santé Connect access token whose
  SubjectNameID holds the mailbox (SC.MSS/CONF.07, SASL-IR accepted, CONF.09) and SASL PLAIN for an
  application mailbox whose TLS client certificate chains to the sandbox CA (CONF.12); every attempt
  recorded, never the token;
- delivery between any `*.mssante.fr` mailboxes (created on first use), patient mailboxes
  `<matricule INS>@patient.mssante.fr`, DSN (RFC 3464) for delivered and failed recipients,
  a "Mon espace santé"-like patient web page (read with MDN `displayed`, reply refused after
  `X-MSS-MES: FIN`, SC.MSS/CONF.21).

Why Twisted (twisted.mail) rather than Debian's Dovecot (+ Postfix):
- pure Python, pinned in the project's dependencies: no system package, no root and no privileged
  service to install in CI or on a doctor's laptop for `caducee demo`;
- it runs in-process: a test starts and stops as many operators as it wants (one reactor thread per
  process, listeners opened and closed from any thread), each over its own SQLite file, with real
  sockets and real TLS, and the fixtures can read the operator's state (auth log, mailboxes) directly;
- its ESMTP and IMAP4Server protocols support STARTTLS and take SASL mechanisms through their
  challenger API (`IChallengeResponse`), so XOAUTH2 checked against our own tokens and PLAIN bound to the
  client certificate are a few classes, where Dovecot would need config files, a passdb/OAuth2 script and
  an MTA for delivery and DSNs;
- the fault injection the product's tests need (`inconnu.*`, `lent.*`, DSN/MDN generation, the patient's
  reply refused after FIN) is ordinary Python next to the protocol code.
"""

from caducee.sandbox.mss.server import MssSandbox, start_mss_sandbox
from caducee.sandbox.mss.tokens import PscTokenVerifier

__all__ = ["MssSandbox", "PscTokenVerifier", "start_mss_sandbox"]
