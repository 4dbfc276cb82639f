"""Which files a run may read: CSVs inside the configured data directories, nothing else.

Every CSV path that comes from a user (the DAG form's ``csv_path``, ``loanstream validate
--csv``, ``loanstream produce --csv``) goes through :func:`data_file` before anything opens
it. The path is resolved first (``..``, symlinks, relative to the working directory) with
:func:`os.path.realpath`, which reads directory entries and link targets but never opens the
file; the resolved path must then lie inside one of ``LOANSTREAM_DATA_DIRS`` (themselves
resolved) and name a ``.csv`` file. Anything else raises :class:`PathNotAllowed`, whose
message names the allowed directories and the path as it was given, and nothing of the file:
not its contents, not where a symlink points, not even whether it exists.

Callers open the *resolved* path that :func:`data_file` returns, so a symlink swapped in
between the check and the open is not followed from the original name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from loanstream.config import Settings

CSV_SUFFIX = ".csv"
_SHOWN_CHARS = 200  # of the requested path, in messages


class PathNotAllowed(ValueError):
    """A path outside the data directories (or not a .csv file): refused before it is opened."""

    def __init__(self, requested: str, allowed: Sequence[Path], why: str) -> None:
        self.requested = requested
        self.allowed = tuple(str(d) for d in allowed)
        shown = requested if len(requested) <= _SHOWN_CHARS else requested[:_SHOWN_CHARS] + "..."
        super().__init__(
            f"refused {shown!r}: {why}. CSVs are read only from the data directories "
            f"{', '.join(self.allowed) or '(none configured)'} (LOANSTREAM_DATA_DIRS): copy the "
            "file into one of them and pass that path"
        )


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(path))


def allowed_dirs(settings: Settings | None = None) -> tuple[Path, ...]:
    """The resolved data directories (``LOANSTREAM_DATA_DIRS``, see :mod:`loanstream.config`)."""
    settings = settings or Settings.from_env()
    return tuple(_real(d) for d in settings.allowed_data_dirs)


def data_file(path: str | os.PathLike[str], dirs: Sequence[Path] | None = None) -> Path:
    """``path`` resolved, if it is a ``.csv`` inside one of ``dirs``; else :class:`PathNotAllowed`.

    ``dirs`` defaults to :func:`allowed_dirs`. Nothing is opened here.
    """
    requested = os.fspath(path)
    allowed = tuple(_real(d) for d in dirs) if dirs is not None else allowed_dirs()
    if not requested.strip() or "\x00" in requested:
        raise PathNotAllowed(requested.replace("\x00", "\\0"), allowed, "not a usable path")
    resolved = _real(requested)
    inside = any(resolved != d and resolved.is_relative_to(d) for d in allowed)
    if not inside:
        raise PathNotAllowed(requested, allowed, "it is outside the data directories")
    if resolved.suffix.lower() != CSV_SUFFIX:
        raise PathNotAllowed(requested, allowed, f"only {CSV_SUFFIX} files are read")
    return resolved


def checked_csv(path: str | os.PathLike[str], *, allow_any_path: bool = False) -> Path:
    """What the CLI reads: :func:`data_file`, or ``path`` as given with ``--allow-any-path``."""
    return Path(path) if allow_any_path else data_file(path)


def data_csvs(dirs: Sequence[Path] | None = None, limit: int = 100) -> list[str]:
    """Up to ``limit`` ``.csv`` files directly inside the data directories (for the form)."""
    found: list[str] = []
    for directory in dirs if dirs is not None else allowed_dirs():
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.suffix.lower() != CSV_SUFFIX or not entry.is_file():
                continue
            try:
                found.append(str(data_file(entry, dirs)))
            except PathNotAllowed:
                continue  # e.g. a symlink pointing out of the data directories
            if len(found) >= limit:
                return found
    return found
