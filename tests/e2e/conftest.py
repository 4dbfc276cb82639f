"""Fixtures for the e2e tests (through the running Airflow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_csv() -> Iterator[Path]:
    """The real sample, copied into the landing directory for the session: Dag runs read CSVs
    only from the data directories (``LOANSTREAM_DATA_DIRS``), and ../shared/data is not one."""
    from tests.helpers import landed_csv, shared_data_csv

    source = shared_data_csv()
    if not source.exists():
        pytest.fail(f"real sample not found at {source}: set LOANSTREAM_SHARED_DATA", pytrace=False)
    with landed_csv(source, prefix="e2e") as path:
        yield path
