"""Locate the real LendingClub sample shared by the project (never copied into it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_lending_club_csv() -> Path:
    """``$LOANSTREAM_SHARED_DATA`` (a file or its directory) or ``<repo>/../shared/data``."""
    env = os.environ.get("LOANSTREAM_SHARED_DATA", "").strip()
    candidates = []
    if env:
        path = Path(env)
        candidates.append(path if path.suffix == ".csv" else path / "lending_club_sample.csv")
    candidates.append(REPO.parent / "shared" / "data" / "lending_club_sample.csv")
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip(f"real LendingClub sample not found (tried {', '.join(map(str, candidates))})")
