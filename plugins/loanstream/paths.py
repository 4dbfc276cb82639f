"""Which files a run may read: CSVs inside the configured data directories, nothing else.

Every CSV path that comes from a user (the DAG form's ``csv_path``, ``loanstream validate
--csv``, ``loanstream produce --csv``) goes through :func:`data_file` before anything opens
it. The path is resolved first (``..``, symlinks, relative to the working directory) with
:func:`os.path.realpath`, which reads directory entries and link targets but never opens the
file; the resolved path must then lie inside one of ``LOANSTREAM_DATA_DIRS`` (themselves
resolved) and name a ``.csv`` file. Anything else raises :class:`PathNotAllowed`, whose
message names the allowed directories and the path as it was given, and nothing of the file:
not its contents, not where a symlink points, not even whether it exists.

A run then opens the file **once** (:func:`open_data_csv`) and every reader of the run
(validation's scan and pandas, the hash, the event reader, the native reader) reads that
descriptor, each through its own cursor (``pread``), never the name again:

- the last path component is opened with ``O_NOFOLLOW`` (a symlink swapped in after the
  check is refused), ``O_NONBLOCK`` (a FIFO cannot hang the open) and must be a regular file
  (``fstat`` on the descriptor);
- the descriptor's real location (``/proc/self/fd/N``) must lie in the data directories, so a
  parent directory swapped for a symlink after the check is refused too;
- :meth:`CsvFile.digest` is the file's SHA-256 and size over the descriptor: ``validate_csv``
  records it and ``produce_events`` refuses a file whose digest differs;
- :meth:`CsvFile.check_unchanged` refuses a file written to while it was being read.

A line longer than ``LOANSTREAM_MAX_LINE_BYTES`` is refused with its row by every reader
(:class:`LineTooLong`): the bound is defined here once and handed to the native reader.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    _check_inside(requested, resolved, allowed)
    return resolved


def _check_inside(requested: str, resolved: Path, allowed: Sequence[Path]) -> None:
    inside = any(resolved != d and resolved.is_relative_to(d) for d in allowed)
    if not inside:
        raise PathNotAllowed(requested, allowed, "it is outside the data directories")
    if resolved.suffix.lower() != CSV_SUFFIX:
        raise PathNotAllowed(requested, allowed, f"only {CSV_SUFFIX} files are read")


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


# --- the file opened once --------------------------------------------------------------------

_READ_BLOCK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class CsvOpenError(ValueError):
    """A file that cannot be opened to be read as a CSV (missing, not a regular file...),
    opened without the directory rule (:func:`open_csv`); ``why`` says which."""

    def __init__(self, requested: str, why: str, missing: bool = False) -> None:
        self.requested = requested
        self.why = why
        self.missing = missing
        super().__init__(f"{requested[:_SHOWN_CHARS]}: {why}")


class FileChanged(ValueError):
    """The file's bytes are not the ones validated (or changed while being read)."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = path
        self.why = why
        super().__init__(f"{path}: {why}")


@dataclass(frozen=True)
class Digest:
    """A file's SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size}


class _DescriptorReader(io.RawIOBase):
    """Bytes of a descriptor from offset 0 with a cursor of its own (``pread``): readers of one
    :class:`CsvFile` never move each other's position. Does not close the descriptor."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = os.fstat(self._fd).st_size + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        count = os.preadv(self._fd, [buffer], self._pos)
        self._pos += count
        return count


class CsvFile:
    """A CSV opened once (:func:`open_data_csv`, :func:`open_csv`): its descriptor and where
    it was opened. ``path`` is for messages and log lines only: nothing opens it again."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        info = os.fstat(fd)
        # not ctime: replacing the name (a rename over it) changes the inode's link count
        self._opened = (info.st_size, info.st_mtime_ns)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"CsvFile({str(self.path)!r}, fd={self.fd})"

    def reader(self, buffer_size: int = _READ_BLOCK) -> io.BufferedReader:
        """A binary reader of the whole file with its own cursor (closing it keeps the fd)."""
        return io.BufferedReader(_DescriptorReader(self.fd), buffer_size=buffer_size)

    def digest(self) -> Digest:
        """SHA-256 and size of the bytes read through the descriptor now."""
        hasher = hashlib.sha256()
        size = 0
        buffer = bytearray(_READ_BLOCK)
        view = memoryview(buffer)
        while count := os.preadv(self.fd, [buffer], size):
            hasher.update(view[:count])
            size += count
        return Digest(hasher.hexdigest(), size)

    def check_unchanged(self) -> None:
        """Raise :class:`FileChanged` if the file was written to since it was opened."""
        info = os.fstat(self.fd)
        if (info.st_size, info.st_mtime_ns) != self._opened:
            raise FileChanged(
                self.path,
                "the file changed while it was being read (size or modification time differs "
                "from when it was opened); nothing read from it can be trusted",
            )

    def check_digest(self, expected: Digest, what: str = "validation") -> Digest:
        """This file's digest, or :class:`FileChanged` if it is not ``expected``."""
        size = self.size
        if size != expected.size:
            raise FileChanged(
                self.path,
                f"the file changed after {what}: {size} bytes now, {expected.size} when it "
                "was validated; nothing was produced. Trigger a new run to validate the file "
                "as it is now",
            )
        now = self.digest()
        if now != expected:
            raise FileChanged(
                self.path,
                f"the file changed after {what}: its SHA-256 is {now.sha256[:16]}..., it was "
                f"{expected.sha256[:16]}... when it was validated ({now.size} bytes); nothing "
                "was produced. Trigger a new run to validate the file as it is now",
            )
        return now

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _descriptor_path(fd: int) -> Path | None:
    """Where the descriptor's file really is (``/proc/self/fd``), or None without /proc."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return Path(target)


def _open_regular(requested: str, resolved: Path, allowed: Sequence[Path] | None) -> CsvFile:
    """Open ``resolved`` once: no symlink last component, no FIFO wait, a regular file only,
    its real location checked through the descriptor against ``allowed`` (None: anywhere)."""

    def refuse(why: str, missing: bool = False) -> ValueError:
        if allowed is None or missing:  # a missing file in a data directory: nothing to hide
            return CsvOpenError(requested, why, missing)
        return PathNotAllowed(requested, allowed, why)

    try:
        fd = os.open(resolved, _OPEN_FLAGS)
    except OSError as exc:
        reasons = {
            errno.ELOOP: "it became a symbolic link after it was checked",
            errno.ENOENT: "file does not exist",
            errno.EACCES: "it cannot be read (permission denied)",
            errno.ENXIO: "not a regular file",
            errno.EISDIR: "not a regular file",
        }
        why = reasons.get(exc.errno or 0, "it cannot be opened")
        raise refuse(why, exc.errno == errno.ENOENT) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse("not a regular file")
        if allowed is not None:
            real = _descriptor_path(fd)
            if real is None:  # no /proc: the name must still lead to this very file
                here = os.stat(resolved, follow_symlinks=False)
                same = (here.st_dev, here.st_ino) == (info.st_dev, info.st_ino)
                if not same or _real(resolved) != resolved:
                    raise refuse("it was replaced after it was checked")
                real = resolved
            elif real != resolved:
                raise refuse("it was moved or replaced after it was checked")
            _check_inside(requested, real, allowed)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return CsvFile(fd, resolved)


def open_data_csv(path: str | os.PathLike[str], dirs: Sequence[Path] | None = None) -> CsvFile:
    """``path`` checked by :func:`data_file` and opened once (see the module docstring);
    :class:`PathNotAllowed` for anything else, before a byte of it is read."""
    requested = os.fspath(path)
    allowed = tuple(_real(d) for d in dirs) if dirs is not None else allowed_dirs()
    return _open_regular(requested, data_file(requested, allowed), allowed)


def open_csv(path: str | os.PathLike[str]) -> CsvFile:
    """``path`` opened once without the directory rule (``--allow-any-path``, tests, the
    shipped sample): still a regular file only, no FIFO wait."""
    requested = os.fspath(path)
    return _open_regular(requested, _real(requested), None)


def open_checked_csv(path: str | os.PathLike[str], *, allow_any_path: bool = False) -> CsvFile:
    """What the CLI reads: :func:`open_data_csv`, or :func:`open_csv` with ``--allow-any-path``."""
    return open_csv(path) if allow_any_path else open_data_csv(path)


@contextlib.contextmanager
def opened(source: CsvFile | str | os.PathLike[str]) -> Iterator[CsvFile]:
    """``source`` if it is already open (left open), else the path opened once here (and
    closed after): the readers take either."""
    if isinstance(source, CsvFile):
        yield source
        return
    with open_csv(source) as csv_file:
        yield csv_file


# --- bounded lines ---------------------------------------------------------------------------


class LineTooLong(ValueError):
    """A physical line longer than ``LOANSTREAM_MAX_LINE_BYTES``, found without reading it whole."""

    def __init__(self, line: int, limit: int) -> None:
        self.line = line
        self.limit = limit
        super().__init__(
            f"line {line} is longer than {limit} bytes (LOANSTREAM_MAX_LINE_BYTES); it was not "
            "read further: split the field or raise the limit"
        )


def max_line_bytes() -> int:
    """``LOANSTREAM_MAX_LINE_BYTES``: the longest physical line, its line break included."""
    return Settings.from_env().max_line_bytes
