"""Fixtures for the chapter checks (the helpers live in webfarm.labtest)."""

from webfarm.labtest import lab_fixture, secrets_fixture  # noqa: F401 - pytest fixtures
