from tests.sandbox.fixtures import insi_sandbox, insi_sandbox_session  # noqa: F401
