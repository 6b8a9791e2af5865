"""The simulator fixtures of the integration tests, shared with the fault tests."""

from tests.integration.conftest import dead_url, quick_timeouts, sim, sim_server  # noqa: F401
