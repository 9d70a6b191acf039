from tests.sandbox.fixtures import dmp_sandbox, dmp_sandbox_session, insi_sandbox, insi_sandbox_session  # noqa: F401
