"""Fixtures of other folders that API tests share."""

from tests.web.conftest import shop  # noqa: F401
