"""Fixtures for tests on the real Kafka and Postgres (`make up`): ``live_settings`` and the
rest are in ``tests/conftest.py`` (the security tests use them too)."""
