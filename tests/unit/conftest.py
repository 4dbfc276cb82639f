"""Fixtures for unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data_csv() -> Path:
    """The real LendingClub sample: $LOANSTREAM_SHARED_DATA, else ../shared/data beside the repo."""
    override = os.environ.get("LOANSTREAM_SHARED_DATA")
    if override:
        path = Path(override)
        return path / "lending_club_sample.csv" if path.is_dir() else path
    return REPO.parent / "shared" / "data" / "lending_club_sample.csv"


@pytest.fixture(scope="session")
def shared_csv() -> Path:
    path = shared_data_csv()
    if not path.exists():
        pytest.fail(f"real sample not found at {path}: set LOANSTREAM_SHARED_DATA")
    return path
