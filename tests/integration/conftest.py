"""Fixtures for tests on the real Kafka and Postgres (`make up`)."""

from __future__ import annotations

import pytest

from loanstream.config import Settings


@pytest.fixture(scope="session")
def live_settings(settings: Settings, kafka_bootstrap: str, pg_dsn: str) -> Settings:
    """``settings``, once Kafka and Postgres are known to answer."""
    return settings
