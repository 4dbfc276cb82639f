"""Fixtures for tests on the real Kafka and Postgres (`make up`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.helpers import shared_data_csv


@pytest.fixture(scope="session")
def shared_csv() -> Path:
    path = shared_data_csv()
    if not path.exists():
        pytest.fail(f"real sample not found at {path}: set LOANSTREAM_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def live_settings() -> Settings:
    """Settings from the environment `make up` exported (or .env/.env.example defaults)."""
    return Settings.from_env()
