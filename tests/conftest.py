"""Tests run against a real PostgreSQL + pgvector, never a mock. The fixtures are plugins in ``fixtures/``;
the helpers tests import are in ``support/``."""

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.models"]
