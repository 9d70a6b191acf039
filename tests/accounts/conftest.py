from tests.accounts.psc_client import psc_env  # noqa: F401
from tests.accounts.test_syslog import udp_collector  # noqa: F401
from tests.sandbox.psc_fixtures import psc_pki, psc_sandbox  # noqa: F401
