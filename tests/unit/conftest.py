"""Fixtures for unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import shared_data_csv


@pytest.fixture(scope="session")
def shared_csv() -> Path:
    path = shared_data_csv()
    if not path.exists():
        pytest.fail(f"real sample not found at {path}: set LOANSTREAM_SHARED_DATA")
    return path
