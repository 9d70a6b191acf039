from tests.sandbox.fixtures import dmp_sandbox, dmp_sandbox_session, insi_sandbox, insi_sandbox_session  # noqa: F401
from tests.sandbox.mss_fixtures import mss_pki, mss_sandbox  # noqa: F401
from tests.sandbox.psc_fixtures import psc_pki, psc_sandbox  # noqa: F401
