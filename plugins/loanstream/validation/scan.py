"""One streaming pass over the raw file before pandas reads it.

It checks that the file is UTF-8 CSV with a comma-separated header, counts every record's
fields (pandas reading only some columns does not: rows with more or fewer fields than the
header are found here), and finds LendingClub's non-loan lines (:mod:`loanstream.lendingclub.lines`):
their file lines for the report, their data-row numbers (so pandas' rows can be numbered as
the file's rows) and their byte spans (so pandas never sees them). Memory stays bounded except
for those few numbers per non-loan line.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loanstream.lendingclub.lines import MAX_SHAPE_CHARS, SkippedLines, body_kind, preamble_kind
from loanstream.paths import CsvFile, CsvOpenError, LineTooLong, max_line_bytes, opened
from loanstream.validation.expectations import REQUIRED_COLUMNS
from loanstream.validation.result import MAX_EXAMPLES

if TYPE_CHECKING:
    import numpy as np

_SCAN_BLOCK = 1 << 20
_OTHER_DELIMITERS = {";": "';' (semicolon)", "\t": "tab", "|": "'|' (pipe)"}
_BOM = codecs.BOM_UTF8


class CsvReadError(ValueError):
    """The CSV cannot be read at all (missing, empty, not UTF-8, wrong delimiter, malformed)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")


@dataclass
class FileScan:
    """What one streaming pass over the raw file found.

    ``rows`` counts the data records after the header, LendingClub's non-loan lines
    included (they are rows of the file); ``loan_rows`` the rest, which pandas reads.
    """

    size: int
    line_ending: str
    header: list[str]
    header_line: int = 1
    sha256: str = ""  # of the bytes the scan read (the whole file, through its descriptor)
    rows: int = 0
    ragged_rows: int = 0
    ragged_examples: list[dict[str, Any]] = field(default_factory=list)
    skipped: SkippedLines = field(default_factory=SkippedLines)
    # data-row numbers of the non-loan records after the header, ascending
    skipped_rows: array = field(default_factory=lambda: array("q"))
    # (start, end) byte offsets of every non-loan record, flattened, ascending
    skipped_spans: array = field(default_factory=lambda: array("q"))

    @property
    def loan_rows(self) -> int:
        return self.rows - len(self.skipped_rows)

    @functools.cached_property
    def _shifts(self) -> np.ndarray:
        """The k-th skipped row (0-based) comes right after loan row ``shifts[k]``."""
        import numpy as np

        count = len(self.skipped_rows)
        rows = np.frombuffer(self.skipped_rows, dtype=np.int64, count=count)
        return rows - 1 - np.arange(count, dtype=np.int64)

    def data_row(self, loan_row: int) -> int:
        """The file's data-row number of the ``loan_row``-th loan row (both 1-based)."""
        if not self.skipped_rows:
            return loan_row
        return loan_row + int(self._shifts.searchsorted(loan_row, side="left"))

    def data_rows(self, loan_rows: np.ndarray) -> np.ndarray:
        """:meth:`data_row` of every element of an int64 array."""
        if not self.skipped_rows:
            return loan_rows
        return loan_rows + self._shifts.searchsorted(loan_rows, side="left")


def scan_file(source: CsvFile | str | Path, limit: int | None = None) -> FileScan:
    """Check that the file is readable UTF-8 CSV; count each record's fields; find non-loan
    lines; hash it (SHA-256, in the same pass).

    Streams the file's descriptor in 1 MiB blocks through an incremental UTF-8 decoder (a bad
    byte is reported with its offset and line). A line longer than ``limit`` bytes (default
    ``LOANSTREAM_MAX_LINE_BYTES``) fails with its row, holding at most ``limit`` of it.
    """
    try:
        with opened(source) as csv_file:
            return _scan(csv_file, limit or max_line_bytes())
    except CsvOpenError as exc:
        raise CsvReadError(exc.requested, exc.why) from None


def _scan(source: CsvFile, limit: int) -> FileScan:
    path = source.path
    size = source.size
    if size == 0:
        raise CsvReadError(path, "file is empty (0 bytes): expected a header line and data rows")
    with source.reader() as stream:
        first = stream.read(_SCAN_BLOCK)
    line_ending = _line_ending(first)
    hasher = _Hasher()
    lines = _decoded_lines(source, line_ending, hasher, limit)
    feed = _LineFeed(lines, len(_BOM) if first.startswith(_BOM) else 0, limit)
    scan: FileScan | None = None
    preamble = SkippedLines()
    preamble_spans = array("q")
    width = 0
    key_index: int | None = None
    # a full-width non-loan row is the id's text, the commas and at most two quotes per field
    try:
        end = feed.offset
        for fields_count, record in _records(feed):
            start, end = end, feed.offset
            if scan is None:
                fields = record()
                kind = preamble_kind(fields) if fields_count <= 1 else None
                if kind:
                    preamble.add(kind, feed.line)
                    preamble_spans.extend((start, end))
                    continue
                header = _header(path, fields)
                scan = FileScan(size, line_ending, header, header_line=feed.line)
                scan.skipped, scan.skipped_spans = preamble, preamble_spans
                width = len(header)
                key_index = header.index("id") if "id" in header else None
                shape_bytes = 3 * width + MAX_SHAPE_CHARS + 2
                continue
            scan.rows += 1
            if fields_count <= 1 or (fields_count == width and end - start <= shape_bytes):
                kind = body_kind(record(), width, key_index)
                if kind:
                    scan.skipped.add(kind, feed.line)
                    scan.skipped_rows.append(scan.rows)
                    scan.skipped_spans.extend((start, end))
                    continue
            if fields_count != width:
                scan.ragged_rows += 1
                if len(scan.ragged_examples) < MAX_EXAMPLES:
                    value = f"{fields_count} fields, header has {width}"
                    scan.ragged_examples.append({"row": scan.rows, "value": value})
    except _Utf8Error as exc:
        raise CsvReadError(path, exc.reason(header_read=scan is not None)) from exc
    except LineTooLong as exc:
        where = f"data row {scan.rows + 1}" if scan else "before the header"
        raise CsvReadError(path, f"{where}: {exc}") from None
    except csv.Error as exc:
        row = scan.rows + 1 if scan else 0
        raise CsvReadError(path, f"malformed CSV at data row {row}: {exc}") from exc
    if scan is None:
        raise CsvReadError(path, "no header line: the file holds only blank or banner lines")
    scan.size, scan.sha256 = hasher.size, hasher.hexdigest()
    return scan


class _Hasher:
    """SHA-256 and byte count of the blocks read."""

    def __init__(self) -> None:
        import hashlib

        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, block: bytes) -> None:
        self._hash.update(block)
        self.size += len(block)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class _LineFeed:
    """Lines of the file, one at a time, that can be handed back one line.

    Keeps the physical line number and the byte offset just past the last line taken (a
    handed-back line is not counted twice).
    """

    def __init__(self, lines: Iterator[str], offset: int, limit: int | None = None) -> None:
        self.lines = lines
        self.pushed: str | None = None
        self.line = 0
        self.offset = offset
        self.limit = limit

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.pushed is not None:
            line, self.pushed = self.pushed, None
            return line
        line = next(self.lines)
        self.line += 1
        size = len(line) if line.isascii() else len(line.encode("utf-8"))
        self.offset += size
        if self.limit is not None and size > self.limit:
            raise LineTooLong(self.line, self.limit)
        return line


def _records(feed: _LineFeed | Iterator[str]) -> Iterator[tuple[int, Callable[[], list[str]]]]:
    """(field count, fields) of each CSV record, with :mod:`csv` semantics (blank line: 0, []).

    A line without a quote is a whole record: its fields are counted with ``str.count``. So is
    a line with every field quoted and no quote inside a field (LendingClub's downloads): its
    only quotes are the two ends and two per ``","`` between them. Any other line with a quote goes to
    :mod:`csv`, which reads on as far as the record spans.
    """
    if not isinstance(feed, _LineFeed):
        feed = _LineFeed(feed, 0)
    reader = csv.reader(feed)
    for line in feed:
        if '"' in line:
            text = line.rstrip("\r\n")
            if len(text) > 1 and text[0] == '"' and text[-1] == '"':
                inner = text[1:-1]
                separators = inner.count('","')
                if inner.count('"') == 2 * separators:  # every inner quote is in a '","'
                    yield separators + 1, lambda inner=inner: inner.split('","')
                    continue
            feed.pushed = line
            fields = next(reader)
            yield len(fields), lambda fields=fields: fields
            continue
        text = line.rstrip("\r\n")
        if text:
            yield text.count(",") + 1, lambda text=text: text.split(",")
        else:
            yield 0, list


def _decoded_lines(source: CsvFile, line_ending: str, hasher: Any, limit: int) -> Iterator[str]:
    """Lines of the file with their endings (LF, CRLF or bare CR), decoded as strict UTF-8;
    every block read goes through ``hasher`` too. A line still open after ``limit``
    characters raises :class:`LineTooLong` (so memory stays bounded)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    eol = b"\r" if line_ending == "CR" else b"\n"
    offset = newlines = taken = 0
    carry = ""
    with source.reader() as stream:
        while block := stream.read(_SCAN_BLOCK):
            hasher.update(block)
            pending = len(decoder.getstate()[0])
            try:
                text = carry + decoder.decode(block)
            except UnicodeDecodeError as exc:
                # the complete lines before the bad byte first: the header may be among them
                good = decoder.decode(block[: max(exc.start - pending, 0)])
                done = io.StringIO(carry + good, newline="").readlines()
                if done and not done[-1].endswith(("\n", "\r")):
                    done.pop()  # the line with the bad byte
                yield from done
                raise _Utf8Error(*_utf8_reason(block, exc, offset, pending, newlines, eol)) from exc
            lines = io.StringIO(text, newline="").readlines()
            carry = lines.pop() if lines else ""
            taken += len(lines)
            yield from lines
            if len(carry) > limit:
                raise LineTooLong(taken + 1, limit)
            newlines += block.count(eol)
            offset += len(block)
    try:
        carry += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        if carry:
            yield carry
        raise _Utf8Error(
            f"not valid UTF-8: the file ends inside a multi-byte character (byte {offset})"
        ) from exc
    if carry:
        yield carry


def _line_ending(block: bytes) -> str:
    if b"\r\n" in block:
        return "CRLF"
    if b"\n" in block:
        return "LF"
    return "CR" if b"\r" in block else "none"


class _Utf8Error(Exception):
    """A byte that is not UTF-8; ``reason(header_read)`` quotes it only in a known CSV."""

    def __init__(self, with_byte: str, without_byte: str | None = None) -> None:
        super().__init__(with_byte)
        self.with_byte = with_byte
        self.without_byte = without_byte or with_byte

    def reason(self, header_read: bool) -> str:
        return self.with_byte if header_read else self.without_byte


def _utf8_reason(
    block: bytes,
    exc: UnicodeDecodeError,
    block_offset: int,
    pending: int,
    newlines: int,
    eol: bytes,
) -> tuple[str, str]:
    """Where the first non-UTF-8 byte is, and what encoding the file probably has.

    Two versions: with the byte's value, and without it (for a file whose header has not been
    read: such a file is not known to be data, so nothing of it is quoted).
    """
    local = max(exc.start - pending, 0)  # the decoder prepends its pending bytes
    offset = block_offset + exc.start - pending
    line = newlines + block[:local].count(eol) + 1
    bad = exc.object[exc.start : exc.start + 1].hex()
    where = f"at byte offset {offset} (line {line}, data row ~{line - 1} if no field spans lines)"
    advice = "the file looks Latin-1/Windows-1252 encoded: re-export it as UTF-8"
    return (
        f"not valid UTF-8: byte 0x{bad} {where}; {advice}",
        f"not valid UTF-8: a byte {where} is not UTF-8; {advice}",
    )


def _header(path: Path, record: list[str]) -> list[str]:
    """Column names of the first record; raises when the delimiter is clearly not a comma."""
    if len(record) == 1 and len(REQUIRED_COLUMNS) > 1:
        raise CsvReadError(path, _delimiter_reason(record[0]))
    return [name.strip() for name in record]


def _delimiter_reason(line: str) -> str:
    counts = {d: line.count(d) for d in _OTHER_DELIMITERS}
    delimiter, count = max(counts.items(), key=lambda item: item[1])
    if count:
        return (
            f"only 1 column detected with ',' as delimiter; the header looks "
            f"{_OTHER_DELIMITERS[delimiter]}-separated ({count + 1} fields): loanstream expects "
            f"comma-separated LendingClub CSV with at least {len(REQUIRED_COLUMNS)} columns"
        )
    # Nothing of the line itself: until its header is read, the file is not known to be data.
    return (
        f"only 1 column detected in the first line (no ',' ';' tab or '|'): loanstream "
        f"expects comma-separated LendingClub CSV with at least {len(REQUIRED_COLUMNS)} columns"
    )


class SpanSkippingReader(io.RawIOBase):
    """The bytes of a file without the given (start, end) byte spans: what pandas reads."""

    def __init__(self, stream: io.BufferedReader, spans: array) -> None:
        super().__init__()
        self._file = stream
        self._spans = spans
        self._next = 0  # index of the next span (start) in the flattened array
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            if self._next < len(self._spans) and self._pos >= self._spans[self._next]:
                self._pos = self._spans[self._next + 1]
                self._file.seek(self._pos)
                self._next += 2
                continue
            limit = len(view)
            if self._next < len(self._spans):
                limit = min(limit, self._spans[self._next] - self._pos)
            count = self._file.readinto(view[:limit])
            self._pos += count or 0
            return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()
