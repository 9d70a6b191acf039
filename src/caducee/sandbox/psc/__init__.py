"""Pro Santé Connect sandbox: a real OpenID Connect provider over HTTPS standing for PSC (issue 6).

Same paths as PSC (Keycloak realm `esante-wallet`, metadata at `.well-known/wallet-openid-configuration`, the
wallet's front-end as authorization endpoint), authorization code with PKCE S256 and `acr_values=eidas1`, tokens
signed RS256 with a `kid` published in the JWKS, PSC's lifetimes (access 2 min, refresh 30 min, session 4 h / 30 min
idle), userinfo PSC-shaped in JSON or as a signed JWT, introspection and end_session. The e-CPS approval is an
HTML page (`approve_for_tests` drives it over HTTP). See server.py for the endpoints, provider.py for the rules.
"""

from caducee.sandbox.psc.server import ApprovalFailed, PscSandbox, start_psc_sandbox

__all__ = ["ApprovalFailed", "PscSandbox", "start_psc_sandbox"]
