"""CSV rows -> loan application events.

With ``typed=True`` (what the producer sends) an event is the row's typed ``loan_application``
event of :mod:`loanstream.contract` (:mod:`.typed`): the contract's fields only, typed. Without
it, an event is the row as a JSON object: every column, keyed by its header name, with the
cell's text exactly as in the file (``" 36 months"`` keeps its space) and ``null`` for blanks
(pandas' NaN): what older producers sent (the sink still reads them) and what the offline
evaluation reads, as it needs the outcome columns. Either way ``event_time`` (UTC ISO-8601) is
added when the event is produced, and the Kafka key is the loan ``id`` as a string.

The file is read as a stream (``chunk_rows`` rows at a time), so memory stays flat for files
of any length: the plain loan rows by the native reader
(:func:`loanstream.native.open_event_reader`), which writes exactly this module's events, and
everything else by the ``csv`` module. LendingClub's non-loan lines (banner, section titles,
policy-code totals, blank lines: :mod:`loanstream.lendingclub.lines`, the same definition validation
uses) are skipped and counted by kind with their file lines. Rows that cannot become an event (no id,
wrong field count) are rejected with their row number and reason; they are counted, never
dropped silently.

Row numbers are 1-based data rows: the first record after the header is row 1; a skipped
non-loan line after the header is a row too, so row numbers follow the file's lines.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from loanstream.lendingclub.lines import body_kind, preamble_kind
from loanstream.paths import CsvFile, CsvOpenError, LineTooLong, max_line_bytes, opened

log = logging.getLogger(__name__)

KEY_COLUMN = "id"
EVENT_TIME_FIELD = "event_time"

# A CSV field can legitimately be long (LendingClub's `desc`), but not unbounded.
FIELD_LIMIT = 16 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)


class EventSourceError(ValueError):
    """The CSV cannot be read as a source of events at all (names the file, row and reason)."""

    def __init__(self, path: str | Path, reason: str, row: int | None = None) -> None:
        self.path = str(path)
        self.row = row
        self.reason = reason
        where = f"{self.path}, row {row}" if row is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Rejection:
    """A row that did not become an event."""

    row: int
    reason: str


@dataclass
class EventBatch:
    """Up to ``chunk_rows`` consecutive rows converted to events.

    ``bodies[i]`` is the event's JSON *without* its closing brace, so that ``event_time`` can be
    appended at the moment the event is produced (see :func:`finish_event`).
    """

    keys: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    skipped: list[tuple[str, int]] = field(default_factory=list)  # (kind, file line)
    # typed events only: column -> events whose row had a non-empty cell in it (not sent)
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def entries(self) -> int:
        """Events, rejections and skipped lines: what ``chunk_rows`` bounds."""
        return len(self.keys) + len(self.rejections) + len(self.skipped)


# [epoch second, "YYYY-MM-DDTHH:MM:SS" as str, as bytes]
_second_cache: list = [None, "", b""]


def _clock() -> tuple[float, int]:
    """(now, its whole second), with the second's date and time formatted in the cache."""
    now = time.time()
    second = int(now)
    if second != _second_cache[0]:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_cache[:] = [second, text, text.encode("ascii")]
    return now, second


def utc_now_iso() -> str:
    """The current UTC time as ISO-8601 with microseconds, e.g. ``2026-11-25T03:40:00.123456+00:00``.

    Called once per event, so the date part is formatted once per second.
    """
    now, second = _clock()
    return f"{_second_cache[1]}.{int((now - second) * 1_000_000):06d}+00:00"


def finish_event(body: bytes, event_time: str) -> bytes:
    """Close an event body by appending its ``event_time``."""
    return b'%s,"event_time":"%s"}' % (body, event_time.encode("ascii"))


def finish_event_now(body: bytes, prefix: bytes = b"") -> bytes:
    """``prefix + finish_event(body, utc_now_iso())`` in one step and one copy, the producer's
    call per event (``prefix``: the value's framing)."""
    now, second = _clock()
    micros = int((now - second) * 1_000_000)
    return b'%s%s,"event_time":"%s.%06d+00:00"}' % (prefix, body, _second_cache[2], micros)


def row_to_event(header: list[str], values: list[str], event_time: str | None = None) -> dict:
    """One CSV row as an event dict (blank -> None, ``event_time`` added). For tests and tools."""
    event: dict = {name: (value if value != "" else None) for name, value in zip(header, values)}
    event[EVENT_TIME_FIELD] = event_time or utc_now_iso()
    return event


def _to_json_body(names: list[str], values: list[str]) -> bytes:
    """The row as a JSON object without its closing brace; blank cells become ``null``.

    The definition: the native reader (``loanstream.native.open_event_reader``) writes exactly
    these bytes or leaves the record to Python, and this function encodes it.
    """
    return orjson.dumps({n: (v if v != "" else None) for n, v in zip(names, values)})[:-1]


NATIVE_READ_ROWS = 1024  # events read natively per call (bounds the native side's buffer)


def _decode_reason(exc: UnicodeDecodeError, header_read: bool = True) -> str:
    """Why the text is not UTF-8; the byte's value only once the header has been read (until
    then the file is not known to be data, and nothing of it is quoted)."""
    bad = f"byte 0x{exc.object[exc.start : exc.start + 1].hex()}" if header_read else "a byte"
    return f"not UTF-8 text: {bad} cannot be decoded ({exc.reason}); re-save the file as UTF-8"


def _header_is_data(source: CsvFile, limit: int = 1 << 20) -> bool:
    """Whether the first line alone is UTF-8 with a valid header (the text reader decodes
    ahead, so a bad byte in row 1 surfaces before the header is handed over)."""
    path = source.path
    try:
        with source.reader() as raw:
            head = raw.read(limit)
        end = min((i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0), default=-1)
        if end < 0:
            return False
        fields = next(csv.reader([head[:end].decode("utf-8-sig")]), [])
        _check_header(path, fields)
    except (OSError, ValueError, csv.Error):  # UnicodeDecodeError and EventSourceError too
        return False
    return True


def _physical_lines(handle: BinaryIO, limit: int) -> Iterator[bytes]:
    """The file's lines as universal newlines split them (``\r\n``, ``\r``, ``\n``; kept).

    A line longer than ``limit`` bytes (its break included) raises :class:`LineTooLong` with
    its line number, holding no more than ``limit`` bytes and a block of it."""
    pending = b""
    taken = 0
    for block in iter(lambda: handle.read(1 << 20), b""):
        lines = (pending + block).splitlines(keepends=True)
        pending = lines.pop()  # may go on in the next block (a "\r" may be half of "\r\n")
        if lines and max(map(len, lines)) > limit:  # the lines before it are read first
            bad = next(i for i, line in enumerate(lines) if len(line) > limit)
            yield from lines[:bad]
            raise LineTooLong(taken + bad + 1, limit)
        taken += len(lines)
        yield from lines
        if len(pending) > limit:
            raise LineTooLong(taken + 1, limit)
    if pending:
        yield pending


def _native_lines(fast: Any, limit: int) -> Iterator[bytes]:
    """The lines the native reader leaves to Python (``CsvEvents.next_line``), bounded alike:
    of a longer line it hands over ``limit + 1`` bytes, refused here by the same rule."""
    while (line := fast.next_line()) is not None:
        if len(line) > limit:
            raise LineTooLong(fast.line, limit)
        yield line


def _decoded(lines: Iterator[bytes]) -> Iterator[str]:
    """``lines`` as text: UTF-8, strict, a BOM dropped at the start of the file. Decoded one
    line at a time (a line break never splits a UTF-8 sequence), so a decoding error is raised
    for the record that holds the bad byte, not for one read earlier."""
    first = next(lines, None)
    if first is None:
        return iter(())
    return itertools.chain([first.decode().removeprefix("\ufeff")], map(bytes.decode, lines))


def read_header(source: CsvFile | str | Path) -> list[str]:
    """The CSV header (after any banner or blank lines), checked to contain the key column."""
    path = Path(str(source))
    try:
        with opened(source) as csv_file, csv_file.reader() as raw:
            path = csv_file.path
            lines = _physical_lines(raw, max_line_bytes())
            header = _first_record(csv.reader(_decoded(lines)), [])
    except CsvOpenError as exc:
        raise EventSourceError(path, "file not found" if exc.missing else exc.why) from None
    except LineTooLong as exc:
        raise EventSourceError(path, str(exc), 0) from None
    except UnicodeDecodeError as exc:
        raise EventSourceError(path, _decode_reason(exc, header_read=False), 0) from None
    if not header:
        raise EventSourceError(path, "file is empty (no header row)")
    return _check_header(path, header)


def _first_record(reader: Any, skipped: list[tuple[str, int]]) -> list[str] | None:
    """The header: the first record that is not a banner or blank line (those go to ``skipped``)."""
    for record in reader:
        kind = preamble_kind(record)
        if kind is None:
            return record
        skipped.append((kind, reader.line_num))
    return None


def _check_header(path: Path, header: list[str]) -> list[str]:
    header = [name.strip() for name in header]
    if KEY_COLUMN not in header:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
            hint = " (the file seems to use another delimiter than ',')"
        raise EventSourceError(path, f"header has no '{KEY_COLUMN}' column{hint}", 0)
    if len(set(header)) != len(header):
        dupes = sorted({name for name in header if header.count(name) > 1})
        raise EventSourceError(path, f"header repeats column names {dupes}", 0)
    return header


def iter_event_batches(
    source: CsvFile | str | Path,
    *,
    chunk_rows: int = 5000,
    skip: int = 0,
    max_events: int | None = None,
    native: str | None = None,
    typed: bool = False,
) -> Iterator[EventBatch]:
    """Stream the file as batches of events.

    ``source``: the file opened once (:func:`loanstream.paths.open_data_csv`; both readers
    read its descriptor), or a path opened once here. A line longer than
    ``LOANSTREAM_MAX_LINE_BYTES`` fails with its row, in bounded memory, on both paths.

    ``skip`` data rows are passed over first; at most ``max_events`` events are yielded
    (rejected rows do not count towards it). ``native``: ``auto``/``on``/``off`` for the native
    reader (default: ``LOANSTREAM_NATIVE_ENCODING``), which reads and encodes the plain loan
    rows in one pass and leaves every other record to the ``csv.reader`` below (the same file
    cursor, so rows and lines are counted alike); the batches are the same either way.

    ``typed``: bodies are typed ``loan_application`` v1 events (:mod:`.typed`; the reference
    year is the current UTC year, taken once), a row with a cell that cannot be typed is
    rejected with the field's ``ContractError``, and ``EventBatch.dropped`` counts the columns
    left out. Else the bodies are the untyped ones (every column as its text).
    """
    from loanstream.config import Settings
    from loanstream.native import open_event_reader

    path = Path(str(source))
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    settings = Settings.from_env()
    if native is None:
        native = settings.native_encoding
    limit = settings.max_line_bytes
    emitted = 0
    row = 0
    in_python = 0  # records csv.reader read after the header
    header: list[str] = []
    with contextlib.ExitStack() as owner:  # the file stays open for the error messages
        try:
            csv_file = owner.enter_context(opened(source))
            path = csv_file.path
            with contextlib.ExitStack() as stack:
                fast, how = open_event_reader(csv_file.fd, limit, native)
                if fast is None:
                    lines = _physical_lines(stack.enter_context(csv_file.reader()), limit)
                else:
                    lines = _native_lines(fast, limit)
                reader = csv.reader(_decoded(lines))
                batch = EventBatch()
                raw_header = _first_record(reader, batch.skipped)
                if not raw_header:
                    raise EventSourceError(path, "file is empty (no header row)")
                header = _check_header(path, raw_header)
                width = len(header)
                key_index = header.index(KEY_COLUMN)
                has_event_time = EVENT_TIME_FIELD in header
                if has_event_time:
                    log.warning(
                        "%s has its own '%s' column: it is replaced by the production time",
                        path,
                        EVENT_TIME_FIELD,
                    )
                keep = [i for i, name in enumerate(header) if name != EVENT_TIME_FIELD]
                names = [header[i] for i in keep]
                typed_rows = None
                if typed:
                    from loanstream.produce.typed import TypedRows, reference_year

                    typed_rows = TypedRows(header, reference_year())
                if fast is not None:
                    fast.columns(names, keep, width, key_index, csv.field_size_limit())
                    if typed_rows is not None:
                        typed_rows.configure(fast)
                log.info("%s: reading and encoding events in %s", path.name, how)
                while max_events is None or emitted < max_events:
                    if fast is not None:
                        budget = min(chunk_rows - batch.entries(), NATIVE_READ_ROWS)
                        if max_events is not None:
                            budget = min(budget, max_events - emitted)
                        before = len(batch.keys)
                        row, full = fast.read(batch, row, skip, budget)
                        emitted += len(batch.keys) - before
                        if full:  # NATIVE_READ_ROWS events, a full batch, or max_events
                            if batch.entries() >= chunk_rows:
                                yield batch
                                batch = EventBatch()
                            continue
                    values = next(reader, None)  # the next record in Python
                    if values is None:
                        break
                    row += 1
                    in_python += 1
                    if row <= skip:
                        continue
                    line = fast.line if fast is not None else reader.line_num
                    if len(values) != width:
                        kind = body_kind(values, width, key_index)
                        if kind:
                            batch.skipped.append((kind, line))
                        else:
                            batch.rejections.append(
                                Rejection(row, f"has {len(values)} fields, header has {width}")
                            )
                    else:
                        key = values[key_index].strip()
                        kind = None if key.isdigit() else body_kind(values, width, key_index)
                        if kind:
                            batch.skipped.append((kind, line))
                        elif not key:
                            batch.rejections.append(Rejection(row, f"no loan '{KEY_COLUMN}'"))
                        elif typed_rows is not None:
                            reason = typed_rows.add(batch, key, values, row)
                            if reason is None:
                                emitted += 1
                            else:
                                batch.rejections.append(Rejection(row, reason))
                        else:
                            if has_event_time:
                                values = [values[i] for i in keep]
                            batch.keys.append(key)
                            batch.bodies.append(_to_json_body(names, values))
                            batch.rows.append(row)
                            emitted += 1
                    if batch.entries() >= chunk_rows:
                        yield batch
                        batch = EventBatch()
                if batch.keys or batch.rejections or batch.skipped:
                    yield batch
                log.info(
                    "%s: %d rows read, %d of them by csv.reader (%s)",
                    path.name, row, in_python, "all" if fast is None else "the rest natively",
                )  # fmt: skip
        except CsvOpenError as exc:
            raise EventSourceError(path, "file not found" if exc.missing else exc.why) from None
        except LineTooLong as exc:
            raise EventSourceError(path, str(exc), row + 1 if header else 0) from None
        except UnicodeDecodeError as exc:
            header_read = bool(header) or _header_is_data(csv_file)
            raise EventSourceError(path, _decode_reason(exc, header_read), row + 1) from None
        except csv.Error as exc:
            raise EventSourceError(path, f"malformed CSV: {exc}", row + 1) from None
