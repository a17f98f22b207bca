"""tests/ops uses the intake fixtures of tests/api (the real app on the real worker and server)."""

from tests.api.conftest import api, service  # noqa: F401
